# embed.cmake — writes OUT, a C file defining `const char NAME[]` as the
# bytes of IN plus a terminating NUL, so a document edited as its own file
# (docs/openapi.json) is compiled into the program that serves it.
#
#   cmake -DIN=file -DOUT=file.c -DNAME=symbol -P tools/embed.cmake
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}"
     "/* Generated from ${IN} by tools/embed.cmake; do not edit. */\n"
     "const char ${NAME}[] = {\n${bytes}0x00};\n")
