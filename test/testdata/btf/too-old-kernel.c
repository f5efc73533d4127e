/* The BTF of an imaginary kernel whose task_struct lacks most fields the program reads: relocating
 * against it must fail, and say which field is missing. Compiled by test/bpf/core-relocation.test.ts. */
struct task_struct {
	int pid;
	int tgid;
};
typedef void (*btf_trace_mark_victim)(void *, struct task_struct *, unsigned int);
btf_trace_mark_victim keep_the_typedef;
