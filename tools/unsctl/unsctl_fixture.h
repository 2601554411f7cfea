/*
 * unsctl_fixture.h — what unsctl's fixture commands share (record, replay,
 * fixture show|build|edit|check): reading and writing fixture files and the
 * JSON form of a fixture.
 */
#ifndef UNSCTL_FIXTURE_H
#define UNSCTL_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "fixture.h"
#include "json_value.h"

/* Reads a whole file (at most 256 MiB); 0, or -1 with the reason. */
int unsctl_read_file(const char *path, uint8_t **out, size_t *len, char *why,
                     size_t whylen);

/* Reads and parses a fixture; 0, or -1 with "PATH: reason" in why. */
int unsctl_fixture_load(const char *path, Uns__V1__Fixture **out, char *why,
                        size_t whylen);

/* Packs f into path (through a temporary file and rename). */
int unsctl_fixture_save(const char *path, const Uns__V1__Fixture *f, char *why,
                        size_t whylen);

/* The JSON form (`fixture show`): the fixture in proto3 JSON, with each
 * payload rendered as its method's message and metadata values as text. */
int unsctl_fixture_to_json(const Uns__V1__Fixture *f, uns_jv **out, char *why,
                           size_t whylen);
/* The reverse (`fixture build`): checks the result like a parsed file. */
int unsctl_fixture_from_json(uns_jv *doc, Uns__V1__Fixture **out, char *why,
                             size_t whylen);

int unsctl_record_main(int argc, char **argv);
int unsctl_replay_main(int argc, char **argv);
int unsctl_fixture_main(int argc, char **argv);
/* Runs one unsctl command line (argv[0] is the command), as main would. */
int unsctl_run(int argc, char **argv);

#endif /* UNSCTL_FIXTURE_H */
