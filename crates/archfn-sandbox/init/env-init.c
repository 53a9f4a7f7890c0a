/*
 * env-init: the first process of every execution environment, started by bubblewrap as root of
 * the environment's user namespace (which maps only that root, to the environment's own
 * unprivileged host uid). It
 *
 *   1. mounts a private binfmt_misc (Linux 6.7+) when given entries to register: QEMU for the
 *      function's ISA when it is foreign, and a refusing handler for the other ISA; then makes
 *      that mount read-only, so nothing the function starts can change or disable an entry;
 *   2. enters a nested user namespace in which the function runs as Lambda's sandbox user
 *      (uid 993, gid 990), with no capabilities over anything the environment was built with:
 *      its mounts, its network namespace, its binfmt_misc;
 *   3. sets Lambda's per-environment limits (1,024 open files, 1,024 processes and threads),
 *      no_new_privs, and a seccomp filter at least as strict as Docker's default profile;
 *   4. starts the layers' external extensions, and executes the runtime.
 *
 * Invoked as `isa-refuse` (through binfmt_misc, as the interpreter of an executable of the
 * wrong ISA), it says so as a shell would and exits 126, as exec fails on a real processor.
 *
 *   env-init [--register LINE]... [--extension PATH]... -- PROGRAM [ARG]...
 *
 * Any step that fails ends the environment (exit 125) with the reason on stderr: an
 * environment is never started with less isolation than asked for.
 *
 * Built statically by archfn-sandbox's build script; archfn writes it out with one padding byte
 * of its ELF identification set, so that the refusing entry (whose mask requires that byte to
 * be 0) does not match the helpers themselves.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BINFMT "/proc/sys/fs/binfmt_misc"

/* Lambda's sandbox user, sbx_user1051. */
#define SANDBOX_UID 993
#define SANDBOX_GID 990
/* Lambda's per-environment limits. */
#define MAX_OPEN_FILES 1024
#define MAX_PROCESSES 1024

static int refuse(int argc, char **argv) {
    const char *file = argc > 1 ? argv[1] : "program";
    fprintf(stderr, "%s: cannot execute binary file: Exec format error\n", file);
    return 126;
}

static void fail(const char *what) {
    fprintf(stderr, "archfn env-init: %s: %s\n", what, strerror(errno));
    exit(125);
}

static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        fail(path);
    close(fd);
}

static void drop_capabilities(void) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    for (int cap = 0; cap < 64; cap++)
        prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    if (syscall(SYS_capset, &header, data) != 0)
        fail("dropping capabilities");
}

/* The function's identity: a user namespace nested in the environment's, where the only id is
 * Lambda's sandbox user, mapped to the environment's root (itself an unprivileged host uid). The
 * function then holds no capability over the environment's namespaces and mounts, which belong to
 * the outer namespace. */
static void become_sandbox_user(void) {
    if (unshare(CLONE_NEWUSER) != 0)
        fail("entering the function's user namespace");
    char map[64];
    write_file("/proc/self/setgroups", "deny");
    snprintf(map, sizeof map, "%d 0 1", SANDBOX_UID);
    write_file("/proc/self/uid_map", map);
    snprintf(map, sizeof map, "%d 0 1", SANDBOX_GID);
    write_file("/proc/self/gid_map", map);
}

static void set_limits(void) {
    struct rlimit files = {MAX_OPEN_FILES, MAX_OPEN_FILES};
    struct rlimit procs = {MAX_PROCESSES, MAX_PROCESSES};
    if (setrlimit(RLIMIT_NOFILE, &files) != 0)
        fail("limiting open files");
    if (setrlimit(RLIMIT_NPROC, &procs) != 0)
        fail("limiting processes");
}

/* ---- seccomp ---------------------------------------------------------------------------- */

#if defined(__x86_64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "env-init supports x86_64 and aarch64 hosts"
#endif

/* Refused with EPERM, as Docker's default profile refuses them to a container without
 * capabilities: kernel modules, kexec, reboot, swap, clocks, accounting, quotas, keyrings,
 * BPF, perf, userfaultfd, io_uring, file handles (the "shocker" escape), other processes'
 * memory, NUMA policy, mounts and the new mount API, namespaces, and obsolete calls. Emulated
 * processes are covered too: QEMU makes the host's system calls on their behalf. */
static const int denied[] = {
#ifdef __NR_acct
    __NR_acct,
#endif
    __NR_add_key, __NR_request_key, __NR_keyctl, __NR_bpf, __NR_perf_event_open,
#ifdef __NR_userfaultfd
    __NR_userfaultfd,
#endif
#ifdef __NR_io_uring_setup
    __NR_io_uring_setup, __NR_io_uring_enter, __NR_io_uring_register,
#endif
    __NR_init_module, __NR_finit_module, __NR_delete_module, __NR_kexec_load,
#ifdef __NR_kexec_file_load
    __NR_kexec_file_load,
#endif
    __NR_reboot, __NR_swapon, __NR_swapoff, __NR_settimeofday, __NR_clock_settime,
    __NR_clock_adjtime, __NR_quotactl,
#ifdef __NR_quotactl_fd
    __NR_quotactl_fd,
#endif
    __NR_lookup_dcookie, __NR_open_by_handle_at, __NR_name_to_handle_at,
    __NR_process_vm_readv, __NR_process_vm_writev, __NR_kcmp,
    __NR_mbind, __NR_set_mempolicy, __NR_get_mempolicy, __NR_move_pages, __NR_migrate_pages,
    __NR_mount, __NR_umount2, __NR_pivot_root, __NR_chroot, __NR_unshare, __NR_setns,
#ifdef __NR_fsopen
    __NR_fsopen, __NR_fsconfig, __NR_fsmount, __NR_fspick, __NR_open_tree, __NR_move_mount,
#endif
#ifdef __NR_mount_setattr
    __NR_mount_setattr,
#endif
    __NR_fanotify_init, __NR_syslog, __NR_vhangup, __NR_sethostname, __NR_setdomainname,
    __NR_nfsservctl,
#if defined(__x86_64__)
    __NR_iopl, __NR_ioperm, __NR_uselib, __NR_ustat, __NR_sysfs, __NR__sysctl,
    __NR_create_module, __NR_get_kernel_syms, __NR_query_module, __NR_modify_ldt,
#endif
};

/* Namespace flags of clone(2): a new namespace is refused, as in Docker's profile. */
#define NAMESPACE_FLAGS                                                                        \
    (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | \
     CLONE_NEWCGROUP)

#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
#define DENY(err) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((err) & SECCOMP_RET_DATA))
#define LOAD(field) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field))

static void install_seccomp(void) {
    enum { N = sizeof denied / sizeof denied[0] };
    struct sock_filter f[N + 16];
    int n = 0;
    /* Any other ABI (i386 through int 0x80, x32) is not this environment's: kill. */
    f[n++] = (struct sock_filter)LOAD(arch);
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_AUDIT_ARCH, 1, 0);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    f[n++] = (struct sock_filter)LOAD(nr);
#if defined(__x86_64__)
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1);
    f[n++] = (struct sock_filter)DENY(EPERM);
#endif
    /* The denied calls, each jumping to the DENY that ends the program (8 instructions after
     * the list). */
    for (int i = 0; i < N; i++)
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)denied[i],
                                              (unsigned char)(N - 1 - i + 8), 0);
    /* clone3 (its flags are behind a pointer the filter cannot read) answers ENOSYS, so that C
     * libraries fall back to clone; clone is refused namespace flags. */
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1);
    f[n++] = (struct sock_filter)DENY(ENOSYS);
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 1, 0);
    f[n++] = (struct sock_filter)ALLOW;
    f[n++] = (struct sock_filter)LOAD(args[0]);
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, NAMESPACE_FLAGS, 0, 1);
    f[n++] = (struct sock_filter)DENY(EPERM);
    f[n++] = (struct sock_filter)ALLOW;
    f[n++] = (struct sock_filter)DENY(EPERM);
    struct sock_fprog prog = {(unsigned short)n, f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        fail("setting no_new_privs");
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
        fail("installing the seccomp filter");
}

/* ---- main ------------------------------------------------------------------------------- */

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
            fprintf(stderr, "env-init: unexpected argument %s\n", argv[i]);
            return 125;
        }
        const char *line = argv[++i];
        if (warned)
            continue;
        if (!mounted) {
            if (mount("binfmt_misc", BINFMT, "binfmt_misc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      NULL) != 0) {
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
        fprintf(stderr, "env-init: no program to run\n");
        return 125;
    }
    /* The entries are fixed from here on: a read-only mount cannot be written to or remounted
     * from the function's namespace. */
    if (mounted && mount(NULL, BINFMT, NULL,
                         MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                         NULL) != 0)
        fail("making binfmt_misc read-only");
    become_sandbox_user();
    set_limits();
    drop_capabilities();
    install_seccomp();
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
