/*
 * vapid.c — uns_vapid_key (crypto.h): the Web Push VAPID key file, made on
 * first use by unsd or by `unsctl vapid`, whichever comes first. It sits
 * here, beside the key functions it is made of, so that unsctl can make
 * and print it without linking the delivery engine.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "b64url.h"
#include "crypto.h"
#include "errors.h"
#include "files.h"

uns_err
uns_vapid_key(const char *path, bool make, char **public_b64, char *why,
              size_t whylen)
{
	uns_key *k = NULL;
	uint8_t pub[UNS_P256_PUBLEN];
	char *pem = NULL, *b64 = NULL;
	uns_err err;

	if (path == NULL || public_b64 == NULL) {
		return UNS_EINVAL;
	}
	if (make && access(path, F_OK) != 0 && errno == ENOENT) {
		if ((err = uns_key_gen_p256(&k)) != UNS_OK ||
		    (err = uns_key_write_pem(k, true, &pem)) != UNS_OK ||
		    (err = uns_file_write_new(path, pem, strlen(pem))) !=
		        UNS_OK) {
			uns_say(why, whylen, "cannot make a vapid key in %s",
			        path);
			goto out;
		}
		uns_key_free(k);
		k = NULL;
	}
	if ((err = uns_key_read_file(&k, path, why, whylen)) != UNS_OK) {
		goto out;
	}
	if (uns_key_type_of(k) != UNS_KEY_P256 || !uns_key_is_private(k)) {
		uns_say(why, whylen,
		        "%s: a vapid key is an ec p-256 private key", path);
		err = UNS_EINVAL;
		goto out;
	}
	if ((err = uns_key_p256_public(k, pub)) != UNS_OK) {
		goto out;
	}
	if ((b64 = malloc(UNS_B64URL_LEN(sizeof(pub)))) == NULL) {
		err = UNS_ENOMEM;
		goto out;
	}
	uns_b64url_encode(pub, sizeof(pub), b64);
	*public_b64 = b64;
	err = UNS_OK;
out:
	if (pem != NULL) {
		uns_wipe(pem, strlen(pem));
	}
	free(pem);
	uns_key_free(k);
	return err;
}
