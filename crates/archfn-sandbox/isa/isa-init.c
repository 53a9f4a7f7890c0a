/*
 * isa-init: the first process of an execution environment, run by bubblewrap inside the
 * environment's own user namespace. It mounts a private binfmt_misc (Linux 6.7+), registers
 * the entries it is given (QEMU for the function's ISA when it is foreign, a refusing handler
 * for the other ISA), drops every capability, and executes the runtime.
 *
 * Invoked as `isa-refuse` (through binfmt_misc, as the interpreter of an executable of the
 * wrong ISA), it says so as a shell would and exits 126, as exec fails on a real processor.
 *
 *   isa-init [--register LINE]... [--extension PATH]... -- PROGRAM [ARG]...
 *
 * Each --extension (a Lambda external extension, /opt/extensions/NAME) is started as a child
 * before the runtime, with the same environment, as Lambda starts them.
 *
 * Built statically by archfn-sandbox's build script; archfn writes it out with one padding byte
 * of its ELF identification set, so that the refusing entry (whose mask requires that byte to
 * be 0) does not match the helpers themselves.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BINFMT "/proc/sys/fs/binfmt_misc"

static int refuse(int argc, char **argv) {
    const char *file = argc > 1 ? argv[1] : "program";
    fprintf(stderr, "%s: cannot execute binary file: Exec format error\n", file);
    return 126;
}

static void drop_capabilities(void) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    for (int cap = 0; cap < 64; cap++)
        prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    syscall(SYS_capset, &header, data);
}

int main(int argc, char **argv) {
    const char *self = strrchr(argv[0], '/');
    self = self ? self + 1 : argv[0];
    if (strcmp(self, "isa-refuse") == 0)
        return refuse(argc, argv);

    int i = 1;
    int mounted = 0, warned = 0;
    const char *extensions[64];
    int n_extensions = 0;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--extension") == 0 && i + 1 < argc) {
            if (n_extensions < 64)
                extensions[n_extensions++] = argv[i + 1];
            i++;
            continue;
        }
        if (strcmp(argv[i], "--register") != 0 || i + 1 >= argc) {
            fprintf(stderr, "isa-init: unexpected argument %s\n", argv[i]);
            return 125;
        }
        const char *line = argv[++i];
        if (warned)
            continue;
        if (!mounted) {
            if (mount("binfmt_misc", BINFMT, "binfmt_misc", 0, NULL) != 0) {
                fprintf(stderr,
                        "archfn: executables of the other ISA are not refused in this "
                        "environment: binfmt_misc in a user namespace needs Linux 6.7 (%s)\n",
                        strerror(errno));
                warned = 1;
                continue;
            }
            mounted = 1;
        }
        int fd = open(BINFMT "/register", O_WRONLY | O_CLOEXEC);
        ssize_t n = fd < 0 ? -1 : write(fd, line, strlen(line));
        if (n < 0 && !warned) {
            fprintf(stderr, "archfn: binfmt_misc entry not registered: %s (%s)\n", line,
                    strerror(errno));
            warned = 1;
        }
        if (fd >= 0)
            close(fd);
    }
    while (i < argc && strcmp(argv[i], "--") != 0)
        i++;
    if (i + 1 >= argc) {
        fprintf(stderr, "isa-init: no program to run\n");
        return 125;
    }
    drop_capabilities();
    for (int e = 0; e < n_extensions; e++) {
        pid_t pid = fork();
        if (pid == 0) {
            char *const ext_argv[] = {(char *)extensions[e], NULL};
            execv(extensions[e], ext_argv);
            fprintf(stderr, "%s: %s\n", extensions[e], strerror(errno));
            _exit(127);
        }
        if (pid < 0)
            fprintf(stderr, "%s: fork: %s\n", extensions[e], strerror(errno));
    }
    execv(argv[i + 1], argv + i + 1);
    int err = errno;
    fprintf(stderr, "%s: %s\n", argv[i + 1], strerror(err));
    return err == ENOENT ? 127 : 126;
}
