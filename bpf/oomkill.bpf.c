// SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0)
/*
 * Catches every OOM kill and reads, in the kernel and at the kill, what user space can no longer read
 * afterwards because the victim is gone: its memory cgroup's path, memory figures and identity.
 *
 * Six entry points; the loader attaches the best pair this kernel allows:
 *   fentry/oom_kill_process + fentry/oom_kill_memcg_member (or both as kprobes)
 *       oom_kill_process sees struct oom_control: the exact constraint, the OOM domain's memcg, totalpages,
 *       chosen_points, and the chosen victim. One OOM invocation is one call, so its oom_id is exact. In a
 *       memory.oom.group kill the kernel then calls oom_kill_memcg_member for every task of the group,
 *       the chosen victim again included (the kernel kills and counts it twice); that program records each
 *       member that the kernel really kills, with the OOM's context noted by oom_kill_process.
 *   tp_btf/mark_victim, raw_tp/mark_victim (where the tracepoint passes the task: 6.8, and stable backports)
 *       run once per victim, group members included, but not for the chosen victim's second kill. They
 *       cannot see oom_control: with an oom_kill_process program attached beside them it notes each OOM's
 *       context for them, else the constraint and the domain are inferred from the memcg counters (the
 *       nearest ancestor at its limit), and the victims of one invocation are grouped by trigger task and
 *       time: the OOM killer holds oom_lock for the whole group kill, so its victims are marked back to
 *       back by the same `current`.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "oomkill.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader before load (read-only data). */
/* Victims marked this close by one trigger: one OOM. The kernel prints a line for each victim between two
 * marks, and on a serial console (as cloud VMs log) each line takes about 15 ms at 115200 baud: 1 ms split
 * group kills seen in QEMU guests into one OOM per victim. A trigger that survives its OOM cannot start the
 * next one until its victims are gone, so 100 ms rarely joins two. */
const volatile __u64 group_window_ns = 100000000;
const volatile __u64 domain_margin_pages = 1024; /* usage this close to max counts as "at its limit" */
/* Set when a mark_victim program records the victims: the oom_kill_process programs then only note the
 * OOM's context (constraint, domain, totalpages, chosen victim) for it, because mark_victim records the
 * chosen victim too. */
const volatile bool mark_victim_records = false;

/* Read by the loader; updated atomically because kills on different memcgs may run concurrently. */
__u64 kills_seen = 0;
__u64 ringbuf_drops = 0;
/* Written by the loader after attaching: which hook a pinned program uses, for the next loader. */
__u32 attached_hook = 0;
/* Written by the loader: the second program (group members or context) and what the pair cannot see. */
__u32 attached_second_hook = 0;
__u32 attached_gaps = 0;
/* Grouping state for victims recorded without an OOM context. Racy only between distinct OOMs, which
 * never group anyway. */
__u32 last_trigger_tid = 0;
__u64 last_mark_ns = 0;
__u64 last_oom_id = 0;
__u64 last_oom_victim_start_time_ns = 0;
__u32 last_oom_victim_tgid = 0;
/* Never written: the source of zeroes for each new record. */
const struct oomkill_kill zeroed_kill = {};

/* What oom_kill_process saw of one OOM, for the programs that record its other victims (mark_victim, or
 * oom_kill_memcg_member), keyed by the triggering thread: they run in its context, right after. */
struct oom_context {
	__u64 oom_id; /* the boot time oom_kill_process ran at */
	__u64 last_used_ns; /* when a victim was last recorded with it */
	__u64 chosen_start_time_ns;
	__u64 domain_cgroup_id;
	__u64 domain_limit_pages;
	__u64 domain_usage_pages;
	__u64 totalpages;
	__s64 chosen_points;
	__u32 chosen_tgid;
	__u8 constraint;
	__u8 domain_known;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct oom_context);
} oom_contexts SEC(".maps");
/* A context unused for this long is not the current OOM's: mark_victim also runs where no oom_kill_process
 * ran before it (out_of_memory marks an exiting `current` without killing). The age counts from the last
 * victim recorded with it, so that a large group kill, a victim every ~15 ms on a serial console, keeps it. */
#define CONTEXT_MAX_AGE_NS 1000000000ull

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024); /* resized by the loader */
} events SEC(".maps");

/* The path is assembled root-first, then its leaf side is copied into the event, so a path too long
 * loses root-side bytes (kubepods...) and keeps the container id. Sized so that every offset the
 * verifier can see stays inside: DEPTH * (NAME_MAX + 1) < SCRATCH_MASK + 1, plus one name of slack. */
#define NAME_SLOT 256
#define SCRATCH_MASK 8191
struct path_scratch {
	char buf[SCRATCH_MASK + 1 + NAME_SLOT];
	__u64 off;
	__u32 depth;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_scratch);
} scratch SEC(".maps");

/* kernfs_node.parent became __parent in 6.15. */
struct kernfs_node___pre615 {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));
struct kernfs_node___615 {
	struct kernfs_node *__parent;
} __attribute__((preserve_access_index));

/* Before 6.2 the RSS counters were atomics in struct mm_rss_stat, not per-CPU counters. */
struct mm_rss_stat___pre62 {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));
struct mm_struct___pre62 {
	struct mm_rss_stat___pre62 rss_stat;
} __attribute__((preserve_access_index));

/* The kernel's MM_* counter indexes: an anonymous enum, so not relocatable, but unchanged since 2.6.34. */
#define MM_FILEPAGES_IDX 0
#define MM_ANONPAGES_IDX 1
#define MM_SWAPENTS_IDX 2
#define MM_SHMEMPAGES_IDX 3

static __always_inline struct kernfs_node *kernfs_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(((struct kernfs_node___615 *)0)->__parent))
		return BPF_CORE_READ((struct kernfs_node___615 *)kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___pre615 *)kn, parent);
}

static __always_inline struct mem_cgroup *task_memcg(struct task_struct *task)
{
	int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	struct cgroup_subsys_state *css = BPF_CORE_READ(task, cgroups, subsys[id]);

	/* css is the first member of struct mem_cgroup. */
	return (struct mem_cgroup *)css;
}

static __always_inline __u64 memcg_cgroup_id(struct mem_cgroup *memcg)
{
	if (!memcg)
		return 0;
	return BPF_CORE_READ(memcg, css.cgroup, kn, id);
}

static __always_inline __s64 rss_counter(struct mm_struct *mm, int idx)
{
	if (bpf_core_field_exists(((struct mm_struct___pre62 *)0)->rss_stat)) {
		struct mm_struct___pre62 *old = (void *)mm;
		return BPF_CORE_READ(old, rss_stat.count[idx].counter);
	}
	/* The kernel's own mark_victim figures read the per-CPU counters' count without summing. */
	return BPF_CORE_READ(mm, rss_stat[idx].count);
}

static __always_inline __u64 nonnegative(__s64 v)
{
	return v < 0 ? 0 : (__u64)v;
}

/* The process's start time: its thread group leader's, the same whichever thread a hook is passed. */
static __always_inline __u64 process_start_time(struct task_struct *task)
{
	return BPF_CORE_READ(task, group_leader, start_time);
}

static __always_inline void read_memory(struct oomkill_kill *e, struct task_struct *victim)
{
	struct mm_struct *mm = BPF_CORE_READ(victim, mm);
	const unsigned char *exe_name;

	if (!mm) {
		e->flags |= OOMKILL_F_NO_MM;
		return;
	}
	/* The executable's own name, which comm (15 bytes, settable by the process) is not. */
	exe_name = BPF_CORE_READ(mm, exe_file, f_path.dentry, d_name.name);
	if (exe_name)
		bpf_probe_read_kernel_str(e->victim_exe_name, sizeof(e->victim_exe_name), exe_name);
	e->total_vm_pages = BPF_CORE_READ(mm, total_vm);
	e->file_rss_pages = nonnegative(rss_counter(mm, MM_FILEPAGES_IDX));
	e->anon_rss_pages = nonnegative(rss_counter(mm, MM_ANONPAGES_IDX));
	e->swap_entries = nonnegative(rss_counter(mm, MM_SWAPENTS_IDX));
	e->shmem_rss_pages = nonnegative(rss_counter(mm, MM_SHMEMPAGES_IDX));
	if (bpf_core_field_exists(mm->pgtables_bytes))
		e->pgtables_bytes = nonnegative(BPF_CORE_READ(mm, pgtables_bytes.counter));
}

/* PID 1 of its PID namespace is the container's main process: only its death is `OOMKilled`. */
static __always_inline void read_namespace_pid(struct oomkill_kill *e, struct task_struct *victim)
{
	struct pid *pid = BPF_CORE_READ(victim, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid upid = {};

	if (level > 32)
		return;
	bpf_core_read(&upid, sizeof(upid), &pid->numbers[level]);
	e->victim_ns_tgid = upid.nr;
	if (upid.nr == 1)
		e->flags |= OOMKILL_F_NS_INIT;
}

static __always_inline void read_cgroup_path(struct oomkill_kill *e, struct kernfs_node *leaf)
{
	struct kernfs_node *chain[OOMKILL_CGROUP_DEPTH_MAX];
	struct path_scratch *s;
	/* 64-bit offsets: 32-bit ones are compared on zero-extended copies whose bounds the verifier
	 * does not carry back to the original. */
	__u64 off = 0, start = 0;
	__u32 zero = 0, depth = 0;
	struct kernfs_node *kn = leaf;
	int i;

	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s || !kn)
		return;

	/* Leaf first; the hierarchy's root (the node without a parent) names nothing and is left out. */
	for (i = 0; i < OOMKILL_CGROUP_DEPTH_MAX; i++) {
		struct kernfs_node *parent = kernfs_parent(kn);

		if (!parent)
			break;
		chain[depth++] = kn;
		kn = parent;
	}
	if (i == OOMKILL_CGROUP_DEPTH_MAX && kernfs_parent(kn))
		e->flags |= OOMKILL_F_PATH_TRUNCATED;

	/* Through memory, the verifier sees depth as any value up to the bound rather than one known value
	 * per way out of the walk above: otherwise it verifies the loop below once per depth, which on some
	 * kernels' layouts exceeds its limit of a million instructions. */
	s->depth = depth;
	depth = *(volatile __u32 *)&s->depth;
	if (depth > OOMKILL_CGROUP_DEPTH_MAX)
		return;

	if (depth == 0) {
		e->cgroup_path[0] = '/';
		e->cgroup_path_len = 1;
		return;
	}

	for (i = OOMKILL_CGROUP_DEPTH_MAX - 1; i >= 0; i--) {
		const char *name;
		long n;

		if ((__u32)i >= depth)
			continue;
		name = BPF_CORE_READ(chain[i], name);
		/* Through memory, off is any value to the verifier at each component, so the states of every
		 * way through the components before (each name's length) are one state, walked once: tracking
		 * its exact bounds instead made the verifier walk up to 2^24 paths, near its million-instruction
		 * limit and 0.4 s per load. The mask keeps it inside the buffer; it never cuts a real offset,
		 * which stays below DEPTH * NAME_SLOT. */
		s->off = off;
		off = *(volatile __u64 *)&s->off;
		off &= SCRATCH_MASK;
		s->buf[off] = '/';
		off = (off + 1) & SCRATCH_MASK;
		n = bpf_probe_read_kernel_str(&s->buf[off], NAME_SLOT, name);
		if (n > 1)
			off += n - 1; /* n counts the NUL */
	}

	if (off > OOMKILL_CGROUP_PATH_MAX) {
		start = off - OOMKILL_CGROUP_PATH_MAX;
		off = OOMKILL_CGROUP_PATH_MAX;
		e->flags |= OOMKILL_F_PATH_TRUNCATED;
	}
	/* clang moves the clamp above away from the copy; the barrier makes the verifier see the bound. */
	barrier_var(off);
	if (start > SCRATCH_MASK + 1 + NAME_SLOT - OOMKILL_CGROUP_PATH_MAX || off == 0 || off > OOMKILL_CGROUP_PATH_MAX)
		return;
	/* Only the bytes in use: the scratch buffer still holds older, longer paths. */
	bpf_probe_read_kernel(e->cgroup_path, off, &s->buf[start]);
	e->cgroup_path_len = off;
}

static __always_inline void read_domain(struct oomkill_kill *e, struct mem_cgroup *memcg)
{
	e->domain_cgroup_id = memcg_cgroup_id(memcg);
	e->domain_limit_pages = BPF_CORE_READ(memcg, memory.max);
	e->domain_usage_pages = BPF_CORE_READ(memcg, memory.usage.counter);
	e->flags |= OOMKILL_F_DOMAIN_KNOWN;
}

/* What struct oom_control says of this OOM, for its chosen victim's record and its other victims'. */
static __always_inline void read_oom_control(struct oom_context *c, struct oom_control *oc, __u64 now)
{
	struct mem_cgroup *domain = BPF_CORE_READ(oc, memcg);
	struct task_struct *chosen = BPF_CORE_READ(oc, chosen);

	c->oom_id = now;
	c->last_used_ns = now;
	c->chosen_tgid = BPF_CORE_READ(chosen, tgid);
	c->chosen_start_time_ns = process_start_time(chosen);
	c->constraint = BPF_CORE_READ(oc, constraint) + 1;
	c->totalpages = BPF_CORE_READ(oc, totalpages);
	c->chosen_points = BPF_CORE_READ(oc, chosen_points);
	if (domain) {
		c->domain_cgroup_id = memcg_cgroup_id(domain);
		c->domain_limit_pages = BPF_CORE_READ(domain, memory.max);
		c->domain_usage_pages = BPF_CORE_READ(domain, memory.usage.counter);
		c->domain_known = 1;
	}
}

static __always_inline void apply_context(struct oomkill_kill *e, const struct oom_context *c)
{
	e->oom_id = c->oom_id;
	e->oom_victim_tgid = c->chosen_tgid;
	e->oom_victim_start_time_ns = c->chosen_start_time_ns;
	e->constraint = c->constraint;
	e->totalpages = c->totalpages;
	e->chosen_points = c->chosen_points;
	if (c->domain_known) {
		e->domain_cgroup_id = c->domain_cgroup_id;
		e->domain_limit_pages = c->domain_limit_pages;
		e->domain_usage_pages = c->domain_usage_pages;
		e->flags |= OOMKILL_F_DOMAIN_KNOWN;
	}
}

/* Without oom_control: the nearest ancestor (or the memcg itself) at its limit was the OOM domain; if
 * none is, the node itself ran out of memory. */
static __always_inline void infer_domain(struct oomkill_kill *e, struct mem_cgroup *memcg)
{
	int i;

	e->flags |= OOMKILL_F_CONSTRAINT_INFERRED;
	e->constraint = OOMKILL_CONSTRAINT_NONE;
	for (i = 0; i < OOMKILL_CGROUP_DEPTH_MAX && memcg; i++) {
		__u64 max = BPF_CORE_READ(memcg, memory.max);
		__u64 usage = BPF_CORE_READ(memcg, memory.usage.counter);
		struct cgroup_subsys_state *parent = BPF_CORE_READ(memcg, css.parent);

		/* The root memcg has no parent and no limit of its own. */
		if (!parent)
			break;
		if (usage + domain_margin_pages >= max) {
			e->constraint = OOMKILL_CONSTRAINT_MEMCG;
			read_domain(e, memcg);
			return;
		}
		memcg = (struct mem_cgroup *)parent;
	}
}

/* Without a context: victims marked back to back by one trigger are one OOM, whose first names it. */
static __always_inline void group_oom(struct oomkill_kill *e)
{
	e->flags |= OOMKILL_F_OOM_ID_INFERRED;
	/* An OOM id is the boot time of its first victim: unique in this boot, and it survives loader
	 * restarts, which a counter in .bss would not. */
	if (!(e->trigger_tid == last_trigger_tid && e->boottime_ns - last_mark_ns < group_window_ns && last_oom_id)) {
		last_oom_id = e->boottime_ns;
		last_oom_victim_tgid = e->victim_tgid;
		last_oom_victim_start_time_ns = e->victim_start_time_ns;
	}
	last_trigger_tid = e->trigger_tid;
	last_mark_ns = e->boottime_ns;
	e->oom_id = last_oom_id;
	e->oom_victim_tgid = last_oom_victim_tgid;
	e->oom_victim_start_time_ns = last_oom_victim_start_time_ns;
}

/* The context oom_kill_process noted for this trigger, if one is attached and it is this OOM's. With
 * `any_age` (oom_kill_memcg_member, which the kernel calls only from within oom_kill_process, after the
 * context was noted) it is this OOM's however long the group's scan has taken. */
static __always_inline struct oom_context *current_context(__u64 now, bool any_age)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct oom_context *c = bpf_map_lookup_elem(&oom_contexts, &tid);

	if (!c || (!any_age && now - c->last_used_ns >= CONTEXT_MAX_AGE_NS))
		return 0;
	c->last_used_ns = now;
	return c;
}

/* Records one victim. `c`: the OOM's context (oom_kill_process passes it); else the one noted for this
 * trigger, if any, is looked up last, so that no pointer stays live across the path walk (the verifier
 * would walk it twice). */
static __always_inline int record_kill(struct task_struct *victim, const struct oom_context *c, __u8 hook, __u16 flags)
{
	struct task_struct *current_task = (struct task_struct *)bpf_get_current_task();
	struct mem_cgroup *memcg;
	struct oomkill_kill *e;
	__u64 pid_tgid;
	struct cgroup *cgrp;

	__sync_fetch_and_add(&kills_seen, 1);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&ringbuf_drops, 1);
		return 0;
	}
	/* Reserved memory is not zeroed, and its bytes reach user space: clear it. (The struct is too large
	 * for an inline memset, so it is copied from a zeroed global.) */
	bpf_probe_read_kernel(e, sizeof(*e), &zeroed_kill);

	e->boottime_ns = bpf_ktime_get_boot_ns();
	e->hook = hook;
	e->flags = flags;
	e->victim_tgid = BPF_CORE_READ(victim, tgid);
	e->victim_tid = BPF_CORE_READ(victim, pid);
	e->victim_start_time_ns = process_start_time(victim);
	e->victim_uid = BPF_CORE_READ(victim, cred, uid.val);
	e->oom_score_adj = BPF_CORE_READ(victim, signal, oom_score_adj);
	BPF_CORE_READ_STR_INTO(&e->victim_comm, victim, comm);

	pid_tgid = bpf_get_current_pid_tgid();
	e->trigger_tgid = pid_tgid >> 32;
	e->trigger_tid = (__u32)pid_tgid;
	bpf_get_current_comm(&e->trigger_comm, sizeof(e->trigger_comm));
	e->trigger_cgroup_id = memcg_cgroup_id(task_memcg(current_task));

	read_memory(e, victim);
	read_namespace_pid(e, victim);

	memcg = task_memcg(victim);
	cgrp = BPF_CORE_READ((struct cgroup_subsys_state *)memcg, cgroup);
	e->victim_cgroup_id = memcg_cgroup_id(memcg);
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) == 0)
		e->flags |= OOMKILL_F_CGROUP_V2;
	e->victim_memcg_limit_pages = BPF_CORE_READ(memcg, memory.max);
	e->victim_memcg_usage_pages = BPF_CORE_READ(memcg, memory.usage.counter);
	read_cgroup_path(e, BPF_CORE_READ(cgrp, kn));

	if (!c)
		c = current_context(e->boottime_ns, hook == OOMKILL_HOOK_FENTRY_OOM_KILL_MEMCG_MEMBER ||
							     hook == OOMKILL_HOOK_KPROBE_OOM_KILL_MEMCG_MEMBER);
	if (c) {
		apply_context(e, c);
	} else {
		group_oom(e);
		infer_domain(e, memcg);
	}

	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* Notes the OOM's context for the programs that record its other victims; records the chosen victim
 * unless a mark_victim program does. */
static __always_inline int on_oom_kill_process(struct oom_control *oc, __u8 hook)
{
	struct oom_context c = {};
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	read_oom_control(&c, oc, bpf_ktime_get_boot_ns());
	bpf_map_update_elem(&oom_contexts, &tid, &c, BPF_ANY);
	if (mark_victim_records)
		return 0;
	return record_kill(BPF_CORE_READ(oc, chosen), &c, hook, 0);
}

#define OOM_SCORE_ADJ_MIN (-1000)

/* A member of a memory.oom.group kill, as the kernel's oom_kill_memcg_member sees it: recorded only when
 * the kernel kills it. Its own conditions are replicated (OOM_SCORE_ADJ_MIN, global init), and so is
 * __oom_kill_process's: a process whose mm is gone is exiting already and is neither killed nor counted.
 * (The kernel looks for an mm in every thread; a process whose leader exited before its threads is
 * skipped here and, if the kernel did kill it, reported missed by reconciliation rather than invented.)
 * The chosen victim comes through again and is recorded again: user space knows it by its event id. */
static __always_inline int on_oom_kill_memcg_member(struct task_struct *task, __u8 hook)
{
	if (BPF_CORE_READ(task, signal, oom_score_adj) == OOM_SCORE_ADJ_MIN || BPF_CORE_READ(task, tgid) == 1 ||
	    !BPF_CORE_READ(task, mm))
		return 0;
	return record_kill(task, 0, hook, OOMKILL_F_GROUP_MEMBER);
}

SEC("fentry/oom_kill_process")
int BPF_PROG(fentry_oom_kill_process, struct oom_control *oc, const char *message)
{
	return on_oom_kill_process(oc, OOMKILL_HOOK_FENTRY_OOM_KILL_PROCESS);
}

SEC("kprobe/oom_kill_process")
int BPF_KPROBE(kprobe_oom_kill_process, struct oom_control *oc)
{
	return on_oom_kill_process(oc, OOMKILL_HOOK_KPROBE_OOM_KILL_PROCESS);
}

SEC("fentry/oom_kill_memcg_member")
int BPF_PROG(fentry_oom_kill_memcg_member, struct task_struct *task, void *message)
{
	return on_oom_kill_memcg_member(task, OOMKILL_HOOK_FENTRY_OOM_KILL_MEMCG_MEMBER);
}

SEC("kprobe/oom_kill_memcg_member")
int BPF_KPROBE(kprobe_oom_kill_memcg_member, struct task_struct *task)
{
	return on_oom_kill_memcg_member(task, OOMKILL_HOOK_KPROBE_OOM_KILL_MEMCG_MEMBER);
}

SEC("tp_btf/mark_victim")
int BPF_PROG(tp_btf_mark_victim, struct task_struct *task, uid_t uid)
{
	return record_kill(task, 0, OOMKILL_HOOK_TP_BTF_MARK_VICTIM, 0);
}

SEC("raw_tp/mark_victim")
int BPF_PROG(raw_tp_mark_victim, struct task_struct *task, uid_t uid)
{
	return record_kill(task, 0, OOMKILL_HOOK_RAW_TP_MARK_VICTIM, 0);
}
