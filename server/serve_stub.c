/* server/serve_stub.c — placeholder until the daemon lands: says so. */
#include <stdio.h>

#include "server/serve.h"

int qd_serve_main(int argc, char **argv)
{
    (void)argc; (void)argv;
    fputs("quantd: serve is not built in this tree\n", stderr);
    return 1;
}

int qd_health_main(int argc, char **argv)
{
    (void)argc; (void)argv;
    fputs("quantd: health is not built in this tree\n", stderr);
    return 1;
}
