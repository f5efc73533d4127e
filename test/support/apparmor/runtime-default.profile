# A stand-in for the container runtime's default AppArmor profile, which Kubernetes applies to every
# unprivileged container on an AppArmor node (appArmorProfile: RuntimeDefault): the same rules as the
# profile containerd generates (contrib/apparmor/template.go, `cri-containerd.apparmor.d`; Docker's
# `docker-default` has the same /proc and /sys rules), with no includes, so that apparmor_parser needs
# nothing but this file. Signal rules name this profile's own name, as the template does.
#
# chroot_relative: paths are mediated as the confined process sees them from its root. The launcher
# (test/support/daemonset-identity.ts) pivots into the container's root, as runc does; inside a kernel-tier
# guest that root hangs below the guest's chroot, so without the flag every path would carry the chroot's
# prefix and no /sys rule would match.
#
# Load: apparmor_parser -r -K test/support/apparmor/runtime-default.profile
# Use:  daemonset-identity.ts --apparmor-profile oomkill-test-runtime-default
@{PROC}=/proc/

profile oomkill-test-runtime-default flags=(attach_disconnected,mediate_deleted,chroot_relative) {
  network,
  capability,
  file,
  umount,
  signal (receive) peer=unconfined,
  signal (send,receive) peer=oomkill-test-runtime-default,

  deny @{PROC}/* w,
  deny @{PROC}/{[^1-9/],[^1-9/][^0-9/],[^1-9s/][^0-9y/][^0-9s/],[^1-9/][^0-9/][^0-9/][^0-9/]*}/** w,
  deny @{PROC}/sys/[^k]** w,
  deny @{PROC}/sys/kernel/{?,??,[^s][^h][^m]**} w,
  deny @{PROC}/sysrq-trigger rwklx,
  deny @{PROC}/kcore rwklx,

  deny mount,

  # What concerns the receiver: no write, lock, link or exec under /sys but in /sys/fs/cgroup, so no
  # mkdir and no BPF pin under /sys/fs/bpf.
  deny /sys/[^f]*/** wklx,
  deny /sys/f[^s]*/** wklx,
  deny /sys/fs/[^c]*/** wklx,
  deny /sys/fs/c[^g]*/** wklx,
  deny /sys/fs/cg[^r]*/** wklx,
  deny /sys/firmware/** rwklx,
  deny /sys/devices/virtual/powercap/** rwklx,
  deny /sys/kernel/security/** rwklx,

  ptrace (trace,tracedby,read,readby) peer=oomkill-test-runtime-default,
}
