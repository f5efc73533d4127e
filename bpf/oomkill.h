/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one contract between the kernel program (oomkill.bpf.c), the loader (loader.c) and the
 * TypeScript decoder (src/event.ts, which mirrors this file field for field: change both, and bump
 * OOMKILL_LAYOUT_VERSION, or the decoder refuses every record).
 *
 * The loader writes frames to stdout: a 16-byte header, then `payload_len` bytes of payload. All
 * integers are little-endian. Fields are ordered widest first so that no struct has hidden padding:
 * the byte offsets are the same for clang's BPF target, the host compiler and the decoder.
 */
#ifndef OOMKILL_H
#define OOMKILL_H

#define OOMKILL_MAGIC 0x4b4d4f4fu /* "OOMK" as little-endian bytes */
#define OOMKILL_LAYOUT_VERSION 2

#define OOMKILL_COMM_LEN 16
/* NAME_MAX + 1: an executable's basename is never cut. */
#define OOMKILL_EXE_NAME_LEN 256
/* Deep enough for every Kubernetes layout (the longest seen, systemd driver nested in a kind node, is
 * about 300 bytes); a longer path is cut and flagged OOMKILL_F_PATH_TRUNCATED. */
#define OOMKILL_CGROUP_PATH_MAX 1024
/* Path components walked up from the victim's cgroup; deeper paths keep their leaf side and are flagged. */
#define OOMKILL_CGROUP_DEPTH_MAX 24
#define OOMKILL_KERNEL_RELEASE_LEN 72

enum oomkill_frame_type {
	OOMKILL_FRAME_HELLO = 1, /* once, first: which hooks are attached, what they miss, and clocks */
	OOMKILL_FRAME_KILL = 2,	 /* one per OOM-killed process */
	OOMKILL_FRAME_STATS = 3, /* periodically: kernel-side counters, and clocks */
};

/* Where a program is attached. oom_kill_process runs once per OOM for its chosen victim; the kernel calls
 * oom_kill_memcg_member for each task of a memory.oom.group kill (the chosen victim again included). */
enum oomkill_hook {
	OOMKILL_HOOK_NONE = 0,
	OOMKILL_HOOK_FENTRY_OOM_KILL_PROCESS = 1,
	OOMKILL_HOOK_KPROBE_OOM_KILL_PROCESS = 2,
	OOMKILL_HOOK_TP_BTF_MARK_VICTIM = 3,
	OOMKILL_HOOK_RAW_TP_MARK_VICTIM = 4,
	OOMKILL_HOOK_FENTRY_OOM_KILL_MEMCG_MEMBER = 5,
	OOMKILL_HOOK_KPROBE_OOM_KILL_MEMCG_MEMBER = 6,
};

/* What the attached hooks cannot see on this kernel (HELLO frame): each is a degradation people are told of. */
enum oomkill_gaps {
	/* No hook sees the other members of a memory.oom.group kill: reconciliation counts them as missed. */
	OOMKILL_GAP_GROUP_MEMBERS = 1 << 0,
	/* The kernel kills and counts a group kill's chosen victim twice; no hook sees the second time, so
	 * reconciliation reports one kill missed per group kill. */
	OOMKILL_GAP_GROUP_RECOUNT = 1 << 1,
	/* No hook sees struct oom_control: constraint and domain are inferred, an OOM's victims grouped by time. */
	OOMKILL_GAP_OOM_CONTROL = 1 << 2,
};

/* Mirrors the kernel's enum oom_constraint, shifted by one so that 0 means "not known". */
enum oomkill_constraint {
	OOMKILL_CONSTRAINT_UNKNOWN = 0,
	OOMKILL_CONSTRAINT_NONE = 1, /* a global (node-wide) OOM */
	OOMKILL_CONSTRAINT_CPUSET = 2,
	OOMKILL_CONSTRAINT_MEMORY_POLICY = 3,
	OOMKILL_CONSTRAINT_MEMCG = 4,
};

enum oomkill_flags {
	OOMKILL_F_PATH_TRUNCATED = 1 << 0,	/* cgroup_path lost components or bytes at its root side */
	OOMKILL_F_NS_INIT = 1 << 1,		/* the victim was PID 1 of its PID namespace */
	OOMKILL_F_CONSTRAINT_INFERRED = 1 << 2, /* the hook cannot see struct oom_control: inferred from memcg limits */
	OOMKILL_F_OOM_ID_INFERRED = 1 << 3,	/* the hook cannot see an OOM invocation: grouped by trigger and time */
	OOMKILL_F_CGROUP_V2 = 1 << 4,		/* the memory controller is on the unified (v2) hierarchy */
	OOMKILL_F_DOMAIN_KNOWN = 1 << 5,	/* domain_* fields describe the memcg whose limit was hit */
	OOMKILL_F_NO_MM = 1 << 6,		/* the victim had no mm any more: memory figures are zero */
	OOMKILL_F_GROUP_MEMBER = 1 << 7,	/* killed as a member of a memory.oom.group kill */
};

struct oomkill_frame_header {
	__u32 magic;
	__u16 version;
	__u16 type;
	__u32 payload_len;
	__u32 reserved; /* zero */
};

struct oomkill_hello {
	__u64 realtime_ns; /* CLOCK_REALTIME and CLOCK_BOOTTIME read back to back: converts kill times */
	__u64 boottime_ns;
	__u32 hook;	   /* enum oomkill_hook: the program that records chosen victims */
	__u32 page_size;   /* the kernel's page size: *_pages fields are in these units */
	__u32 second_hook; /* enum oomkill_hook: group members, or each OOM's context for mark_victim; 0: none */
	__u32 gaps;	   /* enum oomkill_gaps */
	char kernel_release[OOMKILL_KERNEL_RELEASE_LEN];
};

struct oomkill_stats {
	__u64 realtime_ns;
	__u64 boottime_ns;
	__u64 kills_seen;     /* every victim the program ran for */
	__u64 ringbuf_drops;  /* kills the ring buffer could not take: seen, never delivered */
};

struct oomkill_kill {
	__u64 boottime_ns;	    /* bpf_ktime_get_boot_ns() at the kill */
	__u64 oom_id;		    /* shared by every victim of one OOM invocation (a group kill): the boot time of its first */
	__u64 victim_cgroup_id;	    /* kernfs id of the victim's memory cgroup (the inode number on v2) */
	__u64 trigger_cgroup_id;    /* memory cgroup of the task whose allocation invoked the OOM killer */
	__u64 domain_cgroup_id;	    /* the memcg whose limit was hit (OOMKILL_F_DOMAIN_KNOWN) */
	__u64 domain_limit_pages;   /* its limit; ~0 when unlimited */
	__u64 domain_usage_pages;
	__u64 victim_memcg_limit_pages;
	__u64 victim_memcg_usage_pages;
	__u64 total_vm_pages;
	__u64 anon_rss_pages;
	__u64 file_rss_pages;
	__u64 shmem_rss_pages;
	__u64 swap_entries;
	__u64 pgtables_bytes;
	__u64 totalpages;	    /* oom_control.totalpages; 0 where the hook cannot see it */
	__s64 chosen_points;	    /* oom_control.chosen_points; 0 where the hook cannot see it */
	/* task->start_time (ns since boot): with the boot ID and tgid, the victim's identity on every observer. */
	__u64 victim_start_time_ns;
	/* The OOM's first (chosen) victim's start time and tgid: the identity its group kill shares. */
	__u64 oom_victim_start_time_ns;
	__u32 victim_tgid;
	__u32 victim_tid;
	__u32 victim_ns_tgid;	    /* the victim's pid inside its own PID namespace */
	__u32 victim_uid;
	__u32 trigger_tgid;
	__u32 trigger_tid;
	__s32 oom_score_adj;
	__u32 oom_victim_tgid;
	__u16 cgroup_path_len;	    /* bytes of cgroup_path in use; no NUL is counted */
	__u16 flags;		    /* enum oomkill_flags */
	__u8 constraint;	    /* enum oomkill_constraint */
	__u8 hook;		    /* enum oomkill_hook */
	__u8 reserved[2];
	char victim_comm[OOMKILL_COMM_LEN];
	char trigger_comm[OOMKILL_COMM_LEN];
	/* Basename of the victim's executable (mm->exe_file), NUL-padded; empty without an mm. */
	char victim_exe_name[OOMKILL_EXE_NAME_LEN];
	char cgroup_path[OOMKILL_CGROUP_PATH_MAX]; /* "/a/b/c" from the hierarchy's root, NUL-padded */
};

/* The decoder checks these sizes; keep them in step with src/event.ts. */
#define OOMKILL_FRAME_HEADER_SIZE 16
#define OOMKILL_HELLO_SIZE 104
#define OOMKILL_STATS_SIZE 32
#define OOMKILL_KILL_SIZE                                                                                            \
	(19 * 8 + 8 * 4 + 2 * 2 + 2 + 2 + 2 * OOMKILL_COMM_LEN + OOMKILL_EXE_NAME_LEN + OOMKILL_CGROUP_PATH_MAX)

#endif /* OOMKILL_H */
