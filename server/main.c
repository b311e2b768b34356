/* server/main.c — the quantd binary: one program, several subcommands. */
#include <stdio.h>
#include <string.h>

#include "server/cli.h"
#include "server/serve.h"

static void usage(FILE *f)
{
    fputs("usage: quantd <command> [options]\n"
          "\n"
          "commands:\n"
          "  serve      run the HTTP daemon (quantd serve --help)\n"
          "  quantize   quantize a model file (quantd quantize --help)\n"
          "  inspect    show a model file's format, metadata and tensors\n"
          "  version    print the version and the SIMD level in use\n"
          "  health     check a running daemon's /livez (for container health checks)\n",
          f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return qd_serve_main(argc - 1, argv + 1);
    if (strcmp(cmd, "health") == 0)
        return qd_health_main(argc - 1, argv + 1);
    if (strcmp(cmd, "quantize") == 0)
        return qd_cli_quantize(argc - 1, argv + 1);
    if (strcmp(cmd, "inspect") == 0)
        return qd_cli_inspect(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
        return qd_cli_version(argc - 1, argv + 1);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "quantd: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
