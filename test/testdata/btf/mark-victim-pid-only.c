/* The BTF of a kernel whose mark_victim tracepoint passes only the victim's pid, as upstream did before
 * 6.8: the loader must pass over the mark_victim hooks and say why. Compiled by
 * test/bpf/core-relocation.test.ts. */
typedef void (*btf_trace_mark_victim)(void *, int pid);
btf_trace_mark_victim keep_the_typedef;

/* oom_kill_process is there, oom_kill_memcg_member is not (as where the kernel inlined it). */
int oom_kill_process(void *oc, const char *message)
{
	return 0;
}
