// SPDX-License-Identifier: Apache-2.0
/*
 * oomkill-loader: loads oomkill.bpf.c, attaches the first hook that works here, and streams its records
 * to stdout in the frame layout of oomkill.h. Stdout carries only frames; everything for people goes to
 * stderr, one line each, prefixed "oomkill-loader: ".
 *
 * Its life is a straight line: parse options, check the kernel, decide the hooks (cheaply: BTF lookups
 * and a two-instruction program attached and detached per hook, no verification of the real program),
 * load and verify the real program once with only the chosen programs, attach, give back to the kernel
 * the memory libbpf used for that, write HELLO, poll the ring buffer writing KILL frames and periodic
 * STATS, and on SIGTERM or SIGINT (or when the reader closes the pipe) write a last STATS frame and exit 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <linux/capability.h>
#include <linux/perf_event.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <limits.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "oomkill.h"
#include "oomkill.skel.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "frames are written in host order, which the layout fixes as little-endian"
#endif
_Static_assert(sizeof(struct oomkill_frame_header) == OOMKILL_FRAME_HEADER_SIZE, "header layout");
_Static_assert(sizeof(struct oomkill_hello) == OOMKILL_HELLO_SIZE, "hello layout");
_Static_assert(sizeof(struct oomkill_stats) == OOMKILL_STATS_SIZE, "stats layout");
_Static_assert(sizeof(struct oomkill_kill) == OOMKILL_KILL_SIZE, "kill layout");

#define EXIT_NO_BTF 3
#define EXIT_NOT_PERMITTED 4
#define EXIT_NO_HOOK 5

static const char *const hook_names[] = {
	[OOMKILL_HOOK_FENTRY_OOM_KILL_PROCESS] = "fentry/oom_kill_process",
	[OOMKILL_HOOK_KPROBE_OOM_KILL_PROCESS] = "kprobe/oom_kill_process",
	[OOMKILL_HOOK_TP_BTF_MARK_VICTIM] = "tp_btf/mark_victim",
	[OOMKILL_HOOK_RAW_TP_MARK_VICTIM] = "raw_tp/mark_victim",
	[OOMKILL_HOOK_FENTRY_OOM_KILL_MEMCG_MEMBER] = "fentry/oom_kill_memcg_member",
	[OOMKILL_HOOK_KPROBE_OOM_KILL_MEMCG_MEMBER] = "kprobe/oom_kill_memcg_member",
};
/* The hooks --hook names (each oom_kill_process hook brings its oom_kill_memcg_member twin). */
#define HOOK_FIRST OOMKILL_HOOK_FENTRY_OOM_KILL_PROCESS
#define HOOK_LAST OOMKILL_HOOK_RAW_TP_MARK_VICTIM
#define HOOK_ANY_LAST OOMKILL_HOOK_KPROBE_OOM_KILL_MEMCG_MEMBER

struct options {
	bool hooks[HOOK_ANY_LAST + 1]; /* the programs allowed */
	const char *btf_path; /* NULL: the running kernel's */
	unsigned int ringbuf_kib;
	unsigned int stats_interval_ms;
	unsigned int group_window_us;
	bool check_only;
	bool verbose;
	const char *pin_dir; /* bpffs directory to pin the link and maps in; NULL: nothing outlives us */
	bool unpin;
};

static volatile sig_atomic_t stopping;
static bool reader_gone;
/* The last libbpf error line of the current attempt: the reason a hook failed. */
static char last_libbpf_error[512];

static bool verbose;

static void say(const char *fmt, ...)
{
	va_list ap;

	fputs("oomkill-loader: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Why the current attempt failed, in one line: the verifier's last word when it rejected the program,
 * else libbpf's own message. Hooks that fail are expected on most kernels, so libbpf's warnings are
 * shown only with --verbose; the reason goes into the one line that lists every hook tried. */
#define CORE_FAILURE "failed to resolve CO-RE relocation"

static void note_failure(const char *msg)
{
	const char *log = strstr(msg, "-- BEGIN PROG LOAD LOG --");
	const char *end, *line = NULL, *p;

	/* An unresolved CO-RE relocation is the root cause of the verifier error that follows it. */
	const char *core = strstr(msg, CORE_FAILURE);

	if (core) {
		snprintf(last_libbpf_error, sizeof(last_libbpf_error), "%.*s", (int)strcspn(core, "\n"), core);
		return;
	}
	if (!log || strstr(last_libbpf_error, "CO-RE"))
		return;
	end = strstr(log, "-- END PROG LOAD LOG --");
	if (!end)
		end = log + strlen(log);
	/* The verifier's reason is the last line before its "processed N insns" summary. */
	for (p = log; p < end; p++)
		if (*p == '\n' && p + 1 < end && p[1] != '\n' && p[1] != '-' && strncmp(p + 1, "processed ", 10))
			line = p + 1;
	if (line)
		snprintf(last_libbpf_error, sizeof(last_libbpf_error), "verifier: %.*s", (int)strcspn(line, "\n"),
			 line);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* Verifier logs run to megabytes: a heap buffer, given back with the rest after setup, where a
	 * static one would stay resident for the loader's life once a long log had been written into it. */
	static char *msg;
	const size_t msg_size = 1 << 22;
	const char *core;
	size_t n;

	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	if (!msg && !(msg = malloc(msg_size)))
		return 0;
	vsnprintf(msg, msg_size, fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	if (!n)
		return 0;
	if (verbose)
		fprintf(stderr, "%s\n", msg);
	/* CO-RE failures name the field a kernel lacks: always worth showing, as one line. */
	else if ((core = strstr(msg, CORE_FAILURE)))
		say("%.*s", (int)strcspn(core, "\n"), core);
	if (level == LIBBPF_WARN)
		note_failure(msg);
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: oomkill-loader [options]\n"
		"  --hook LIST            hooks to allow, comma-separated, or 'auto' (default): fentry, kprobe\n"
		"                         (oom_kill_process, with oom_kill_memcg_member for group kills),\n"
		"                         tp_btf, raw_tp (mark_victim), or one program by its full name\n"
		"                         (fentry/oom_kill_process); the best this kernel allows is chosen\n"
		"  --btf PATH             BTF to relocate against (default /sys/kernel/btf/vmlinux)\n"
		"  --ringbuf-kib N        ring buffer size, a power of two >= 4 (default 256)\n"
		"  --stats-interval-ms N  how often to write a STATS frame (default 1000)\n"
		"  --group-window-us N    mark_victim without oom_kill_process: victims marked this close\n"
		"                         together by one task are one OOM (default 100000)\n"
		"  --check                load (CO-RE relocation and verifier) without attaching, then exit\n"
		"  --pin-dir DIR          keep the attached program and its ring buffer in this bpffs directory\n"
		"                         after exit, and resume them at start: kills made while no receiver\n"
		"                         runs wait in the ring buffer; pins it cannot resume (another layout\n"
		"                         or build, half-pinned) it replaces; where pinning fails, runs unpinned\n"
		"  --unpin                with --pin-dir: detach and remove what is pinned there, then exit\n"
		"  --verbose              libbpf's debug output and the verifier's statistics on stderr\n");
}

static bool parse_uint(const char *s, unsigned int *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 1u << 30)
		return false;
	*out = (unsigned int)v;
	return true;
}

/* A short name (fentry) allows each program of that type; a full one (fentry/oom_kill_process) that one. */
static bool parse_hooks(char *list, bool *hooks)
{
	char *save, *name;

	memset(hooks, 0, sizeof(bool) * (HOOK_ANY_LAST + 1));
	if (!strcmp(list, "auto")) {
		for (int h = HOOK_FIRST; h <= HOOK_ANY_LAST; h++)
			hooks[h] = true;
		return true;
	}
	for (name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		bool found = false;

		for (int h = HOOK_FIRST; h <= HOOK_ANY_LAST; h++) {
			size_t len = strcspn(hook_names[h], "/");

			if (!strcmp(name, hook_names[h]) || (strlen(name) == len && !strncmp(name, hook_names[h], len))) {
				hooks[h] = found = true;
			}
		}
		if (!found)
			return false;
	}
	return true;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "hook", required_argument, NULL, 'h' },	{ "btf", required_argument, NULL, 'b' },
		{ "ringbuf-kib", required_argument, NULL, 'r' }, { "stats-interval-ms", required_argument, NULL, 's' },
		{ "group-window-us", required_argument, NULL, 'g' }, { "check", no_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },		{ "help", no_argument, NULL, 'H' },
		{ "pin-dir", required_argument, NULL, 'p' },	{ "unpin", no_argument, NULL, 'u' },
		{ 0 },
	};
	char hooks_auto[] = "auto";
	int c;

	*o = (struct options){ .ringbuf_kib = 256, .stats_interval_ms = 1000, .group_window_us = 100000 };
	parse_hooks(hooks_auto, o->hooks);
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			if (!parse_hooks(optarg, o->hooks)) {
				say("--hook: unknown hook in '%s' (known: fentry, kprobe, tp_btf, raw_tp, auto, or one program's full name, e.g. fentry/oom_kill_process)", optarg);
				return -1;
			}
			break;
		case 'b':
			o->btf_path = optarg;
			break;
		case 'r':
			if (!parse_uint(optarg, &o->ringbuf_kib) || o->ringbuf_kib < 4 ||
			    (o->ringbuf_kib & (o->ringbuf_kib - 1))) {
				say("--ringbuf-kib: '%s' is not a power of two >= 4", optarg);
				return -1;
			}
			break;
		case 's':
			if (!parse_uint(optarg, &o->stats_interval_ms) || !o->stats_interval_ms) {
				say("--stats-interval-ms: '%s' is not a positive number", optarg);
				return -1;
			}
			break;
		case 'g':
			if (!parse_uint(optarg, &o->group_window_us)) {
				say("--group-window-us: '%s' is not a number", optarg);
				return -1;
			}
			break;
		case 'c':
			o->check_only = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'p':
			o->pin_dir = optarg;
			break;
		case 'u':
			o->unpin = true;
			break;
		case 'H':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		say("unexpected argument '%s'", argv[optind]);
		return -1;
	}
	if (o->unpin && !o->pin_dir) {
		say("--unpin needs --pin-dir");
		return -1;
	}
	return 0;
}

/*
 * In the image the loader carries file capabilities as permitted-only (setcap ...+p), not effective:
 * with the effective bit, exec fails outright (EPERM) when the container's bounding set lacks one of
 * them, e.g. CAP_SYS_RESOURCE, which only old kernels need. So the loader raises what it was given.
 */
static void raise_permitted_capabilities(void)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};

	if (syscall(SYS_capget, &header, data))
		return;
	data[0].effective = data[0].permitted;
	data[1].effective = data[1].permitted;
	syscall(SYS_capset, &header, data);
}

/* CAP_BPF and CAP_PERFMON (5.8+), or CAP_SYS_ADMIN, which implies both. */
static bool has_bpf_capabilities(void)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};
	__u64 effective;

	if (syscall(SYS_capget, &header, data))
		return true; /* cannot tell: let the kernel decide */
	effective = (__u64)data[1].effective << 32 | data[0].effective;
#ifndef CAP_BPF
#define CAP_PERFMON 38
#define CAP_BPF 39
#endif
	if (effective & (1ull << CAP_SYS_ADMIN))
		return true;
	return (effective & (1ull << CAP_BPF)) && (effective & (1ull << CAP_PERFMON));
}

/* Before 6.8 (and its stable backports) mark_victim passed only the victim's pid, and `current` is the
 * trigger, not the victim: the cgroup path could not be read. Such kernels need the oom_kill_process hooks. */
static const char *mark_victim_unusable(const struct btf *btf)
{
	const struct btf_type *t;
	const struct btf_param *params;
	__s32 id;

	id = btf__find_by_name_kind(btf, "btf_trace_mark_victim", BTF_KIND_TYPEDEF);
	if (id < 0)
		return "the kernel has no mark_victim tracepoint";
	t = btf__type_by_id(btf, btf__type_by_id(btf, id)->type); /* pointer */
	t = btf__type_by_id(btf, t->type);			  /* function prototype */
	params = btf_params(t);
	/* (void *ctx, struct task_struct *task, uid_t uid) */
	if (!btf_is_func_proto(t) || btf_vlen(t) < 2 || !btf_is_ptr(btf__type_by_id(btf, params[1].type)))
		return "mark_victim passes only a pid on this kernel (the victim task arrived in 6.8)";
	return NULL;
}

static int write_all(const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(STDOUT_FILENO, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno == EPIPE)
				reader_gone = true;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_frame(__u16 type, const void *payload, __u32 len)
{
	struct oomkill_frame_header h = {
		.magic = OOMKILL_MAGIC, .version = OOMKILL_LAYOUT_VERSION, .type = type, .payload_len = len,
	};
	/* One write per frame, so a reader never sees a header without its payload from a torn write. */
	char buf[OOMKILL_FRAME_HEADER_SIZE + OOMKILL_KILL_SIZE];

	if (len > sizeof(buf) - sizeof(h))
		return -E2BIG;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), payload, len);
	return write_all(buf, sizeof(h) + len);
}

static __u64 clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

/* The program's .bss, read through its map: the same for a program we loaded and for a pinned one. */
static int read_bss(int bss_fd, struct oomkill_bpf__bss *bss)
{
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info), zero = 0;

	/* A map pinned by a loader of another release has another layout: never copy it into ours. (The
	 * section is the struct without its tail padding.) */
	errno = 0;
	if (bpf_obj_get_info_by_fd(bss_fd, &info, &info_len) || info.value_size > sizeof(*bss) ||
	    info.value_size + 8 <= sizeof(*bss))
		return -1;
	return bpf_map_lookup_elem(bss_fd, &zero, bss);
}

static int write_stats(int bss_fd)
{
	struct oomkill_bpf__bss bss = {};
	struct oomkill_stats s;

	read_bss(bss_fd, &bss);
	s = (struct oomkill_stats){
		.realtime_ns = clock_ns(CLOCK_REALTIME),
		.boottime_ns = clock_ns(CLOCK_BOOTTIME),
		.kills_seen = bss.kills_seen,
		.ringbuf_drops = bss.ringbuf_drops,
	};
	return write_frame(OOMKILL_FRAME_STATS, &s, sizeof(s));
}

static int on_kill(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (size != sizeof(struct oomkill_kill)) {
		say("dropped a ring buffer record of %zu bytes (a kill is %zu): object and loader disagree", size,
		    sizeof(struct oomkill_kill));
		return 0;
	}
	/* A negative return stops ring_buffer__poll: the reader is gone. */
	return write_frame(OOMKILL_FRAME_KILL, data, (__u32)size);
}

static struct bpf_program *program_for(struct oomkill_bpf *skel, int hook)
{
	switch (hook) {
	case OOMKILL_HOOK_FENTRY_OOM_KILL_PROCESS:
		return skel->progs.fentry_oom_kill_process;
	case OOMKILL_HOOK_KPROBE_OOM_KILL_PROCESS:
		return skel->progs.kprobe_oom_kill_process;
	case OOMKILL_HOOK_TP_BTF_MARK_VICTIM:
		return skel->progs.tp_btf_mark_victim;
	case OOMKILL_HOOK_RAW_TP_MARK_VICTIM:
		return skel->progs.raw_tp_mark_victim;
	case OOMKILL_HOOK_FENTRY_OOM_KILL_MEMCG_MEMBER:
		return skel->progs.fentry_oom_kill_memcg_member;
	default:
		return skel->progs.kprobe_oom_kill_memcg_member;
	}
}

/* The kernel function (or tracepoint) a hook attaches to. */
static const char *target_of(int hook)
{
	return strchr(hook_names[hook], '/') + 1;
}

/*
 * One way to watch OOM kills: `victims` records chosen victims (mark_victim: every victim); `second` is
 * 0, oom_kill_memcg_member (group members) or, beside mark_victim, oom_kill_process (each OOM's context).
 */
struct plan {
	int victims;
	int second;
	__u32 gaps; /* enum oomkill_gaps */
};

/* The attached programs. After attach the object is gone: only the links and two map fds are kept. */
struct hooks {
	struct plan plan;
	struct oomkill_bpf *skel;
	struct bpf_link *links[2];
};

static void release(struct hooks *h)
{
	bpf_link__destroy(h->links[0]);
	bpf_link__destroy(h->links[1]);
	oomkill_bpf__destroy(h->skel);
	*h = (struct hooks){};
}

/* Appends "what: why" to the list of what was tried and why it failed. */
static void note_tried(char *tried, size_t size, const char *what, const char *why)
{
	size_t len = strlen(tried);

	snprintf(tried + len, size - len, "%s%s: %s", len ? "; " : "", what, why);
}

/*
 * Whether `hook` can attach here, known without verifying the real program: its target must be in the
 * kernel's BTF, and a two-instruction program of its type must load and attach (then it is detached).
 * This is what differs between kernels (tracing programs refused, kprobes compiled out, a function
 * inlined); the real program's CO-RE relocation and verification are then done once, for the chosen plan.
 * With `btf_only` (--check against another kernel's BTF) only the BTF is consulted.
 */
static bool probe_hook(int hook, const struct btf *btf, bool btf_only, char *why, size_t why_len)
{
	static const struct bpf_insn return_zero[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	bool tracepoint = hook == OOMKILL_HOOK_TP_BTF_MARK_VICTIM || hook == OOMKILL_HOOK_RAW_TP_MARK_VICTIM;
	bool kprobe = hook == OOMKILL_HOOK_KPROBE_OOM_KILL_PROCESS || hook == OOMKILL_HOOK_KPROBE_OOM_KILL_MEMCG_MEMBER;
	const char *target = target_of(hook);
	LIBBPF_OPTS(bpf_prog_load_opts, opts);
	enum bpf_prog_type type = BPF_PROG_TYPE_TRACING;
	int prog_fd, attach_fd = -1;
	__s32 id;

	if (tracepoint) {
		const char *unusable = mark_victim_unusable(btf);

		if (unusable) {
			snprintf(why, why_len, "%s", unusable);
			return false;
		}
	} else if (btf__find_by_name_kind(btf, target, BTF_KIND_FUNC) < 0) {
		snprintf(why, why_len, "%s is not in the kernel's BTF (inlined or absent)", target);
		return false;
	}
	if (btf_only)
		return true;

	switch (hook) {
	case OOMKILL_HOOK_TP_BTF_MARK_VICTIM:
		id = btf__find_by_name_kind(btf, "btf_trace_mark_victim", BTF_KIND_TYPEDEF);
		opts.expected_attach_type = BPF_TRACE_RAW_TP;
		opts.attach_btf_id = (__u32)id;
		break;
	case OOMKILL_HOOK_RAW_TP_MARK_VICTIM:
		type = BPF_PROG_TYPE_RAW_TRACEPOINT;
		break;
	case OOMKILL_HOOK_FENTRY_OOM_KILL_PROCESS:
	case OOMKILL_HOOK_FENTRY_OOM_KILL_MEMCG_MEMBER:
		opts.expected_attach_type = BPF_TRACE_FENTRY;
		opts.attach_btf_id = (__u32)btf__find_by_name_kind(btf, target, BTF_KIND_FUNC);
		break;
	default:
		type = BPF_PROG_TYPE_KPROBE;
		break;
	}
	prog_fd = bpf_prog_load(type, "oomkill_probe", "GPL", return_zero, 2, &opts);
	if (prog_fd < 0) {
		snprintf(why, why_len, "load: %s", strerror(errno));
		return false;
	}
	if (kprobe) {
		/* As libbpf attaches a kprobe: a perf event of the kprobe PMU on the function, running the program. */
		struct perf_event_attr attr = { .size = sizeof(attr), .config1 = (__u64)(unsigned long)target };
		FILE *f = fopen("/sys/bus/event_source/devices/kprobe/type", "r");

		if (!f || fscanf(f, "%u", &attr.type) != 1) {
			snprintf(why, why_len, "attach: this kernel has no kprobe PMU (CONFIG_KPROBES off?)");
			if (f)
				fclose(f);
			close(prog_fd);
			return false;
		}
		fclose(f);
		attach_fd = (int)syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
		if (attach_fd >= 0 && ioctl(attach_fd, PERF_EVENT_IOC_SET_BPF, prog_fd)) {
			close(attach_fd);
			attach_fd = -1;
		}
	} else {
		attach_fd = bpf_raw_tracepoint_open(tracepoint && type == BPF_PROG_TYPE_RAW_TRACEPOINT ? target : NULL, prog_fd);
	}
	if (attach_fd < 0)
		snprintf(why, why_len, "attach: %s", strerror(errno));
	else
		close(attach_fd);
	close(prog_fd);
	return attach_fd >= 0;
}

/* The oom_kill_memcg_member twin of an oom_kill_process hook. */
static int member_hook_of(int hook)
{
	return hook == OOMKILL_HOOK_FENTRY_OOM_KILL_PROCESS ? OOMKILL_HOOK_FENTRY_OOM_KILL_MEMCG_MEMBER
							    : OOMKILL_HOOK_KPROBE_OOM_KILL_MEMCG_MEMBER;
}

/*
 * The plans this kernel allows, best first:
 *   1. oom_kill_process with oom_kill_memcg_member (fentry, else kprobe): every victim of a group kill,
 *      the kernel's second kill of its chosen victim, and each OOM's exact constraint, domain and id;
 *   2. mark_victim (tp_btf, else raw_tp), with an oom_kill_process hook for each OOM's context if one
 *      attaches: every victim, not the second kill;
 *   3. oom_kill_process alone: each OOM's chosen victim only.
 * Returns how many plans it wrote; what it passed over, and why, goes into `tried`.
 */
static int plan_hooks(const struct options *o, struct plan *plans, char *tried, size_t size)
{
	char why[256];
	bool ok[HOOK_ANY_LAST + 1] = { false };
	const struct btf *btf;
	struct btf *owned = NULL;
	int n = 0;

	btf = owned = o->btf_path ? btf__parse(o->btf_path, NULL) : btf__load_vmlinux_btf();
	if (!btf) {
		note_tried(tried, size, "hooks", "cannot read the kernel's BTF");
		return 0;
	}
	for (int h = HOOK_FIRST; h <= HOOK_LAST; h++) {
		if (!o->hooks[h])
			continue;
		if (!(ok[h] = probe_hook(h, btf, o->check_only, why, sizeof(why))))
			note_tried(tried, size, hook_names[h], why);
	}
	for (int h = OOMKILL_HOOK_FENTRY_OOM_KILL_PROCESS; h <= OOMKILL_HOOK_KPROBE_OOM_KILL_PROCESS; h++) {
		int member = member_hook_of(h);

		if (!ok[h] || !o->hooks[member])
			continue;
		if ((ok[member] = probe_hook(member, btf, o->check_only, why, sizeof(why))))
			plans[n++] = (struct plan){ .victims = h, .second = member };
		else
			note_tried(tried, size, hook_names[member], why);
	}
	for (int h = OOMKILL_HOOK_TP_BTF_MARK_VICTIM; h <= OOMKILL_HOOK_RAW_TP_MARK_VICTIM; h++) {
		if (!ok[h])
			continue;
		for (int c = OOMKILL_HOOK_FENTRY_OOM_KILL_PROCESS; c <= OOMKILL_HOOK_KPROBE_OOM_KILL_PROCESS; c++)
			if (ok[c])
				plans[n++] = (struct plan){ .victims = h, .second = c, .gaps = OOMKILL_GAP_GROUP_RECOUNT };
		plans[n++] = (struct plan){ .victims = h, .gaps = OOMKILL_GAP_GROUP_RECOUNT | OOMKILL_GAP_OOM_CONTROL };
	}
	for (int h = OOMKILL_HOOK_FENTRY_OOM_KILL_PROCESS; h <= OOMKILL_HOOK_KPROBE_OOM_KILL_PROCESS; h++)
		if (ok[h])
			plans[n++] = (struct plan){ .victims = h, .gaps = OOMKILL_GAP_GROUP_MEMBERS | OOMKILL_GAP_GROUP_RECOUNT };
	btf__free(owned);
	return n;
}

/* "a+b": the attached programs, as the receiver names them. */
static void plan_name(const struct plan *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", hook_names[p->victims], p->second ? "+" : "", p->second ? hook_names[p->second] : "");
}

/* Loads (CO-RE relocation and verification) only the programs of `p`, and attaches them if `attach`. */
static bool load_plan(const struct options *o, const struct plan *p, bool attach, struct hooks *h, char *why,
		      size_t why_len)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .btf_custom_path = o->btf_path);
	struct bpf_program *prog;
	int err;

	*h = (struct hooks){ .plan = *p };
	last_libbpf_error[0] = '\0';
	h->skel = oomkill_bpf__open_opts(&open_opts);
	if (!h->skel) {
		snprintf(why, why_len, "open: %s", strerror(errno));
		return false;
	}
	bpf_object__for_each_program(prog, h->skel->obj)
		bpf_program__set_autoload(prog, prog == program_for(h->skel, p->victims) ||
						    (p->second && prog == program_for(h->skel, p->second)));
	/* --verbose: the verifier's statistics for each program (instructions processed, states). */
	if (o->verbose)
		bpf_object__for_each_program(prog, h->skel->obj)
			bpf_program__set_log_level(prog, 4);
	h->skel->rodata->group_window_ns = (__u64)o->group_window_us * 1000;
	h->skel->rodata->mark_victim_records =
		p->victims == OOMKILL_HOOK_TP_BTF_MARK_VICTIM || p->victims == OOMKILL_HOOK_RAW_TP_MARK_VICTIM;
	bpf_map__set_max_entries(h->skel->maps.events, o->ringbuf_kib * 1024);

	err = oomkill_bpf__load(h->skel);
	if (err) {
		char reason[128];

		libbpf_strerror(err, reason, sizeof(reason));
		snprintf(why, why_len, "load: %s%s%s", reason, last_libbpf_error[0] ? ": " : "", last_libbpf_error);
		goto fail;
	}
	if (!attach)
		return true;
	h->links[0] = bpf_program__attach(program_for(h->skel, p->victims));
	if (h->links[0] && p->second)
		h->links[1] = bpf_program__attach(program_for(h->skel, p->second));
	if (!h->links[0] || (p->second && !h->links[1])) {
		snprintf(why, why_len, "attach: %s", strerror(errno));
		goto fail;
	}
	return true;
fail:
	release(h);
	return false;
}

/*
 * Chooses and attaches the hooks: the best plan that loads and attaches. Usually the first: the probes
 * have already ruled out what this kernel refuses, so the real program is verified once.
 */
static bool choose_hooks(const struct options *o, struct hooks *h, char *tried, size_t size)
{
	struct plan plans[12]; /* at most 2 pairs, 2 x 3 with mark_victim, 2 alone */
	int n = plan_hooks(o, plans, tried, size);
	char why[768], name[96];

	for (int i = 0; i < n; i++) {
		if (load_plan(o, &plans[i], !o->check_only, h, why, sizeof(why)))
			return true;
		plan_name(&plans[i], name, sizeof(name));
		note_tried(tried, size, name, why);
	}
	return false;
}

static void pin_path(char *buf, size_t len, const char *dir, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

/* Tests build a loader whose pins say another layout made them (make -C bpf .output/oomkill-loader-layout1):
 * a rolling update in miniature. Nothing else sets it. */
#ifndef OOMKILL_PIN_LAYOUT
#define OOMKILL_PIN_LAYOUT OOMKILL_LAYOUT_VERSION
#endif

/*
 * What made a set of pins, pinned last as "identity" (a one-element array map, frozen): its presence says
 * the set is whole, and its fields say whether this loader can read what the pinned program writes. Every
 * later release reads these fields at these offsets first: never change them, only append.
 */
struct pin_identity {
	__u32 layout_version; /* OOMKILL_LAYOUT_VERSION of the loader that pinned */
	__u32 reserved;
	__u64 build; /* FNV-1a of the kernel object that loader carried (its ring buffer records and .bss) */
};

/* The kernel object this loader carries decides the records and the .bss a pinned program leaves: two
 * builds of it may differ in either while the frame layout stays, so the object itself is the identity. */
static __u64 object_build(void)
{
	size_t size;
	const unsigned char *elf = oomkill_bpf__elf_bytes(&size);
	__u64 hash = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < size; i++)
		hash = (hash ^ elf[i]) * 0x100000001b3ull;
	return hash;
}

/* The identity of the pins in `dir`; -1 when there is none or it is not one (a release before it existed). */
static int read_pin_identity(const char *dir, struct pin_identity *id)
{
	char path[PATH_MAX];
	unsigned char value[4096];
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info), zero = 0;
	int fd, err;

	pin_path(path, sizeof(path), dir, "identity");
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	err = bpf_obj_get_info_by_fd(fd, &info, &info_len) || info.type != BPF_MAP_TYPE_ARRAY || info.key_size != 4 ||
	      info.value_size < sizeof(*id) || info.value_size > sizeof(value) || bpf_map_lookup_elem(fd, &zero, value);
	close(fd);
	if (err)
		return -1;
	memcpy(id, value, sizeof(*id));
	return 0;
}

static int pin_identity(const char *path)
{
	struct pin_identity id = { .layout_version = OOMKILL_PIN_LAYOUT, .build = object_build() };
	__u32 zero = 0;
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "oomkill_pins", sizeof(zero), sizeof(id), 1, NULL);
	int err;

	if (fd < 0)
		return -errno;
	/* Frozen: what made the pins is fixed once written. */
	err = bpf_map_update_elem(fd, &zero, &id, BPF_ANY) || bpf_map_freeze(fd) || bpf_obj_pin(fd, path) ? -errno : 0;
	close(fd);
	return err;
}

/*
 * Opens what an earlier loader pinned in `dir`, if this loader can read it: the same layout and program
 * build, every pin there, the .bss readable. Returns false with `why` empty when nothing is pinned, or
 * with what is wrong, for a person, when pins are there that it cannot resume (and must replace).
 */
static bool resume_pins(const char *dir, int *events_fd, int *bss_fd, struct plan *plan, char *why, size_t len)
{
	const char *names[] = { "link", "context-link", "events", "bss", "identity" };
	char path[PATH_MAX], missing[64] = "";
	struct pin_identity id;
	struct oomkill_bpf__bss bss = {};
	bool any = false;
	int link_fd;

	why[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		pin_path(path, sizeof(path), dir, names[i]);
		if (access(path, F_OK) == 0)
			any = true;
		else if (strcmp(names[i], "context-link"))
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s", missing[0] ? ", " : "",
				 names[i]);
	}
	if (!any)
		return false;
	if (read_pin_identity(dir, &id)) {
		snprintf(why, len, "they carry no readable identity (%s%s): left by a release before pins carried one, or "
			 "by a loader killed while pinning", missing[0] ? "missing: " : "unreadable", missing);
		return false;
	}
	if (id.layout_version != OOMKILL_PIN_LAYOUT) {
		snprintf(why, len, "they are of layout %u, this loader reads layout %u", id.layout_version, OOMKILL_PIN_LAYOUT);
		return false;
	}
	if (id.build != object_build()) {
		snprintf(why, len, "they are of another program build (%016llx, this loader's is %016llx)",
			 (unsigned long long)id.build, (unsigned long long)object_build());
		return false;
	}
	if (missing[0]) {
		snprintf(why, len, "half-pinned, missing: %s", missing);
		return false;
	}
	pin_path(path, sizeof(path), dir, "link");
	if ((link_fd = bpf_obj_get(path)) >= 0)
		close(link_fd);
	pin_path(path, sizeof(path), dir, "events");
	*events_fd = bpf_obj_get(path);
	pin_path(path, sizeof(path), dir, "bss");
	*bss_fd = bpf_obj_get(path);
	if (link_fd < 0 || *events_fd < 0 || *bss_fd < 0 || read_bss(*bss_fd, &bss) || bss.attached_hook < HOOK_FIRST ||
	    bss.attached_hook > HOOK_LAST || bss.attached_second_hook > HOOK_ANY_LAST) {
		snprintf(why, len, "this user cannot open or read them (%s)", errno ? strerror(errno) : "its .bss names no hook");
		goto unreadable;
	}
	/* The second program's link is pinned exactly when the .bss names one. */
	pin_path(path, sizeof(path), dir, "context-link");
	if ((access(path, F_OK) == 0) != (bss.attached_second_hook != 0)) {
		snprintf(why, len, "half-pinned, the context link %s", bss.attached_second_hook ? "is missing" : "has no program named");
		goto unreadable;
	}
	*plan = (struct plan){ .victims = (int)bss.attached_hook, .second = (int)bss.attached_second_hook,
			       .gaps = bss.attached_gaps };
	return true;
unreadable:
	/* Closed, so that the old program is gone once its pins are. */
	if (*events_fd >= 0)
		close(*events_fd);
	if (*bss_fd >= 0)
		close(*bss_fd);
	*events_fd = *bss_fd = -1;
	return false;
}

/* Pins the link and the two maps the next loader needs; on failure removes what it pinned. */
static int pin_all(const char *dir, const struct hooks *h)
{
	char events[PATH_MAX], bss[PATH_MAX], link_path[PATH_MAX], context_path[PATH_MAX], identity[PATH_MAX];
	int err;

	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	pin_path(events, sizeof(events), dir, "events");
	pin_path(bss, sizeof(bss), dir, "bss");
	pin_path(link_path, sizeof(link_path), dir, "link");
	pin_path(context_path, sizeof(context_path), dir, "context-link");
	pin_path(identity, sizeof(identity), dir, "identity");
	/* The identity last: a loader killed while pinning leaves a set without one, which the next replaces. */
	if ((err = bpf_map__pin(h->skel->maps.events, events)) || (err = bpf_map__pin(h->skel->maps.bss, bss)) ||
	    (err = bpf_link__pin(h->links[0], link_path)) ||
	    (h->links[1] && (err = bpf_link__pin(h->links[1], context_path))) || (err = pin_identity(identity))) {
		unlink(events);
		unlink(bss);
		unlink(link_path);
		unlink(context_path);
		unlink(identity);
		return err;
	}
	return 0;
}

/*
 * Why pinning in `dir` failed with `err`, and the fix, for a person: the errno alone misleads. EPERM is
 * what bpffs answers for a directory that is not on a bpf filesystem; EACCES is either the permission
 * bits (systemd mounts /sys/fs/bpf mode 0700: a non-root user cannot even search it, whoever owns the
 * directory below) or a security module (AppArmor's container default denies writes under /sys/fs).
 */
static void explain_pin_failure(const char *dir, int err, char *buf, size_t len)
{
	char path[PATH_MAX];
	struct stat st;

	struct statfs fs;

	if ((!statfs(dir, &fs) && fs.f_type != BPF_FS_MAGIC) || err == EPERM || err == ENOENT || err == ENOTDIR) {
		snprintf(buf, len, "%.512s is not a directory on a bpf filesystem; fix: mount bpffs (mount -t bpf bpf /sys/fs/bpf) "
			 "and give a directory on it", dir);
		return;
	}
	if (err != EACCES) {
		snprintf(buf, len, "%s", strerror(err));
		return;
	}
	/* Walk down the path: the first directory this user cannot search, or the last one it cannot write. */
	snprintf(path, sizeof(path), "%s", dir[0] == '/' ? "/" : ".");
	for (const char *p = dir + (dir[0] == '/'), *next; *p; p = next + (*next == '/')) {
		next = p + strcspn(p, "/");
		if (access(path, X_OK) && errno == EACCES) {
			stat(path, &st);
			snprintf(buf, len, "uid %u cannot search %.512s (mode %04o, owner %u:%u), so no directory below it is "
				 "reachable; fix: give this user a bpffs directory whose every parent it can search, e.g. "
				 "mount the host's /sys/fs/bpf/oomkill at a path outside /sys/fs (deploy/daemonset.yaml)",
				 getuid(), path, st.st_mode & 07777, st.st_uid, st.st_gid);
			return;
		}
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "%s%.*s", path[strlen(path) - 1] == '/' ? "" : "/",
			 (int)(next - p), p);
	}
	if (access(dir, F_OK) && errno == ENOENT) {
		snprintf(buf, len, "uid %u cannot create %.512s: its parent is not writable by this user; fix: create "
			 "it for this user beforehand (the DaemonSet's init container does)", getuid(), dir);
		return;
	}
	if (access(dir, W_OK | X_OK) && errno == EACCES) {
		stat(dir, &st);
		snprintf(buf, len, "uid %u cannot write %.512s (mode %04o, owner %u:%u); fix: make it this user's "
			 "(the DaemonSet's init container chowns it)", getuid(), dir, st.st_mode & 07777, st.st_uid, st.st_gid);
		return;
	}
	snprintf(buf, len, "the permission bits allow it, so a security module refused it (AppArmor: the container "
		 "runtime's default profile denies writes under /sys/fs; SELinux); fix: pin outside /sys/fs, e.g. mount "
		 "the host's /sys/fs/bpf/oomkill elsewhere in the container (deploy/daemonset.yaml)");
}

static void unpin_all(const char *dir)
{
	const char *names[] = { "link", "context-link", "events", "bss", "identity" };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		pin_path(path, sizeof(path), dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

int main(int argc, char **argv)
{
	struct options o;
	struct hooks hooks = {};
	struct ring_buffer *rb = NULL;
	struct oomkill_hello hello = {};
	struct utsname uts;
	sigset_t stop_signals, waiting_mask;
	char tried[2048] = "", name[96];
	const char *btf = "/sys/kernel/btf/vmlinux";
	int events_fd = -1, bss_fd = -1;
	bool pinned = false;
	__u64 next_stats;
	int exit_code = 1;

	if (parse_options(argc, argv, &o))
		return 2;
	verbose = o.verbose;
	libbpf_set_print(libbpf_print);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	if (o.btf_path)
		btf = o.btf_path;
	if (access(btf, R_OK)) {
		if (o.btf_path)
			say("no BTF at %s (%s)", btf, strerror(errno));
		else
			say("no BTF at %s (%s): this kernel cannot run CO-RE programs; use the kmsg or cgroup source",
			    btf, strerror(errno));
		return EXIT_NO_BTF;
	}
	if (o.btf_path) {
		/* Checked once here: a file that is not BTF would otherwise fail each hook with a vaguer error. */
		struct btf *custom = btf__parse(o.btf_path, NULL);

		if (!custom) {
			char err[128];

			libbpf_strerror(errno, err, sizeof(err));
			say("cannot read BTF from %s (%s): give a kernel's BTF, raw or in an ELF's .BTF section",
			    o.btf_path, err);
			return EXIT_NO_BTF;
		}
		btf__free(custom);
	}
	raise_permitted_capabilities();
	if (!has_bpf_capabilities()) {
		say("not permitted: loading BPF needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN before 5.8)");
		return EXIT_NOT_PERMITTED;
	}
	if (o.unpin) {
		unpin_all(o.pin_dir);
		say("unpinned %s: the program is detached", o.pin_dir);
		return 0;
	}
	/* A pinned program outlives us: if we die with our reader, leave the ring buffer to the next loader
	 * rather than consume records nobody will read. */
	prctl(PR_SET_PDEATHSIG, o.pin_dir ? SIGKILL : SIGTERM);

	/* --check loads and exits: it neither resumes nor replaces what is pinned. */
	if (o.pin_dir && !o.check_only) {
		char why[512];

		if (resume_pins(o.pin_dir, &events_fd, &bss_fd, &hooks.plan, why, sizeof(why))) {
			plan_name(&hooks.plan, name, sizeof(name));
			say("resumed %s pinned at %s", name, o.pin_dir);
			goto attached;
		}
		/* Pins this loader cannot read are replaced, not resumed and not refused: resuming would frame
		 * another program's records as ours, and refusing would crash-loop every node of a rolling update
		 * until someone ran --unpin. What their ring buffer holds cannot be decoded, so it is dropped with
		 * them; the bpf source turns this line ("replaced pins ") into a warning. */
		if (why[0]) {
			unpin_all(o.pin_dir);
			say("replaced pins at %s: %s; lost: the kills made between the previous receiver's exit and now, "
			    "which were in their ring buffer: reconciliation counts them as missed; no fix needed",
			    o.pin_dir, why);
		}
	}

	if (!choose_hooks(&o, &hooks, tried, sizeof(tried))) {
		say("no hook could attach (tried %s)", tried[0] ? tried : "none");
		return EXIT_NO_HOOK;
	}
	plan_name(&hooks.plan, name, sizeof(name));
	if (o.check_only) {
		say("check: %s loads with every CO-RE relocation resolved against %s", name, btf);
		exit_code = 0;
		goto cleanup;
	}
	say("attached %s%s%s%s", name, tried[0] ? " (not: " : "", tried, tried[0] ? ")" : "");
	/* For the next loader, which resumes a pinned program without choosing. */
	hooks.skel->bss->attached_hook = (__u32)hooks.plan.victims;
	hooks.skel->bss->attached_second_hook = (__u32)hooks.plan.second;
	hooks.skel->bss->attached_gaps = hooks.plan.gaps;
	if (o.pin_dir) {
		int err = pin_all(o.pin_dir, &hooks);

		/* Pinning keeps kills across restarts; it is not a precondition: run unpinned and say why, in a
		 * line the bpf source reads ("unpinned: ") and reports as a degradation. */
		if (err) {
			char why[1024];

			explain_pin_failure(o.pin_dir, -err, why, sizeof(why));
			say("unpinned: cannot pin in %.512s (%s): %s", o.pin_dir, strerror(-err), why);
		} else {
			pinned = true;
			say("pinned at %s: kills made while no receiver runs wait in the ring buffer", o.pin_dir);
		}
	}
	/* Only the links and two maps are needed from here on: the object (its ELF, BTF and relocations) goes,
	 * and glibc gives the heap libbpf used back to the kernel, where it would otherwise keep it. */
	events_fd = dup(bpf_map__fd(hooks.skel->maps.events));
	bss_fd = dup(bpf_map__fd(hooks.skel->maps.bss));
	oomkill_bpf__destroy(hooks.skel);
	hooks.skel = NULL;
	malloc_trim(0);

attached:
	rb = ring_buffer__new(events_fd, on_kill, NULL, NULL);
	if (!rb) {
		say("ring buffer: %s", strerror(errno));
		goto cleanup;
	}

	uname(&uts);
	hello.realtime_ns = clock_ns(CLOCK_REALTIME);
	hello.boottime_ns = clock_ns(CLOCK_BOOTTIME);
	hello.hook = (__u32)hooks.plan.victims;
	hello.second_hook = (__u32)hooks.plan.second;
	hello.gaps = hooks.plan.gaps;
	hello.page_size = (__u32)sysconf(_SC_PAGESIZE);
	snprintf(hello.kernel_release, sizeof(hello.kernel_release), "%s", uts.release);
	if (write_frame(OOMKILL_FRAME_HELLO, &hello, sizeof(hello)))
		goto cleanup;

	/* Asleep until a kill or the next stats frame, nothing in between. SIGTERM and SIGINT are blocked but
	 * while waiting (epoll_pwait), so one that arrives just before the wait still ends it at once. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigprocmask(SIG_BLOCK, &stop_signals, &waiting_mask);
	sigdelset(&waiting_mask, SIGTERM);
	sigdelset(&waiting_mask, SIGINT);
	next_stats = clock_ns(CLOCK_MONOTONIC) + (__u64)o.stats_interval_ms * 1000000;
	while (!stopping && !reader_gone) {
		__u64 now = clock_ns(CLOCK_MONOTONIC);
		int timeout_ms = next_stats > now ? (int)((next_stats - now + 999999) / 1000000) : 0;
		struct epoll_event ready;
		int n = epoll_pwait(ring_buffer__epoll_fd(rb), &ready, 1, timeout_ms, &waiting_mask);
		int err = n > 0 ? ring_buffer__consume(rb) : n < 0 ? -errno : 0;

		if (err < 0 && err != -EINTR) {
			if (!reader_gone)
				say("ring buffer poll: %s", strerror(-err));
			break;
		}
		if (clock_ns(CLOCK_MONOTONIC) >= next_stats) {
			if (write_stats(bss_fd))
				break;
			next_stats += (__u64)o.stats_interval_ms * 1000000;
		}
	}
	/* Drain what the kernel already holds, then say how many kills were seen and dropped in all. */
	if (!reader_gone) {
		ring_buffer__consume(rb);
		write_stats(bss_fd);
	}
	exit_code = 0;
cleanup:
	ring_buffer__free(rb);
	/* Pinned, the links stay attached after we close them; otherwise closing them detaches the programs. */
	if (pinned) {
		bpf_link__disconnect(hooks.links[0]);
		if (hooks.links[1])
			bpf_link__disconnect(hooks.links[1]);
	}
	release(&hooks);
	if (events_fd >= 0)
		close(events_fd);
	if (bss_fd >= 0)
		close(bss_fd);
	return exit_code;
}
