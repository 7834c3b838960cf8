//! What /proc says about the stack's processes, for xtask (is the service it started still the
//! one running?) and for the tests and benchmarks that look at them from outside (which children
//! a service has, how much CPU and memory they used). Read through `procfs`; Linux only. And
//! how the tests and benchmarks stop a process they started: SIGTERM, with a bound.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use procfs::process::{ProcState, Process};
use procfs::{CurrentSI, KernelStats};

fn process(pid: u32) -> Option<Process> {
    Process::new(i32::try_from(pid).ok()?).ok()
}

/// When process `pid` started, in clock ticks since boot, while it runs; `None` once it has
/// exited, including as a zombie nobody has reaped yet.
///
/// With the pid this names one process for good: the kernel reuses pids, never (pid, start
/// time) pairs. Unlike its command line, which reads empty until `exec` has set it up, the
/// start time is there from the moment the process exists.
pub fn start_time_while_alive(pid: u32) -> Option<u64> {
    let stat = process(pid)?.stat().ok()?;
    match stat.state().ok()? {
        ProcState::Zombie | ProcState::Dead => None,
        _ => Some(stat.starttime),
    }
}

/// The parent of process `pid`; `None` once it has exited.
pub fn parent_pid(pid: u32) -> Option<u32> {
    u32::try_from(process(pid)?.stat().ok()?.ppid).ok()
}

/// A process's user + system CPU time so far, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = process(pid)?.stat().ok()?;
    Some(stat.utime + stat.stime)
}

/// Clock ticks per second, the unit of /proc's CPU times.
pub fn ticks_per_second() -> f64 {
    procfs::ticks_per_second() as f64
}

/// A process's peak resident set size (VmHWM), in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    process(pid)?.status().ok()?.vmhwm
}

/// The machine's (busy, total) CPU ticks so far, over all cores.
pub fn machine_ticks() -> Option<(u64, u64)> {
    let cpu = KernelStats::current().ok()?.total;
    let busy = cpu.user
        + cpu.nice
        + cpu.system
        + cpu.irq.unwrap_or(0)
        + cpu.softirq.unwrap_or(0)
        + cpu.steal.unwrap_or(0);
    Some((busy, busy + cpu.idle + cpu.iowait.unwrap_or(0)))
}

/// Sends SIGTERM to `child` and waits up to `bound` for it to exit; `None` when it is still
/// running then, which the caller reports (a service that ignores SIGTERM is a bug: `docker
/// stop` would SIGKILL it) before killing it.
pub fn terminate_within(child: &mut Child, bound: Duration) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).ok()?);
    // It may exit on its own meanwhile: then the wait below finds it.
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + bound;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_its_parent() {
        assert_eq!(
            parent_pid(std::process::id()),
            Some(std::os::unix::process::parent_id())
        );
    }

    #[test]
    fn a_process_has_a_start_time_until_it_exits() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("running sleep");
        let started = start_time_while_alive(child.id());
        assert!(started.is_some(), "a running child has a start time");
        child.kill().expect("killing sleep");
        // Not yet reaped: a zombie, which has exited all the same.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while start_time_while_alive(child.id()).is_some() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(
            start_time_while_alive(child.id()),
            None,
            "a killed, unreaped child"
        );
        child.wait().expect("reaping sleep");
        assert_eq!(start_time_while_alive(child.id()), None);
    }

    #[test]
    fn this_process_uses_cpu_and_memory_on_a_busy_machine() {
        assert!(cpu_ticks(std::process::id()).is_some());
        assert!(peak_rss_kib(std::process::id()).is_some_and(|kib| kib > 0));
        let (busy, total) = machine_ticks().expect("/proc/stat");
        assert!(0 < busy && busy < total, "busy {busy} of {total} ticks");
    }

    #[test]
    fn a_process_that_stops_on_sigterm_is_waited_for() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("running sleep");
        let status = terminate_within(&mut child, Duration::from_secs(10));
        assert_eq!(
            status.and_then(|status| std::os::unix::process::ExitStatusExt::signal(&status)),
            Some(15),
            "sleep ends on SIGTERM"
        );
    }

    #[test]
    fn a_process_that_ignores_sigterm_is_given_up_on_after_the_bound() {
        // A sleep that ignores SIGTERM (ignored signals stay ignored across exec), as a process
        // stuck in its shutdown would.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "trap '' TERM; exec sleep 30"])
            .spawn()
            .expect("running sh");
        std::thread::sleep(Duration::from_millis(200));
        let asked = Instant::now();
        assert_eq!(
            terminate_within(&mut child, Duration::from_millis(500)),
            None
        );
        assert!(asked.elapsed() < Duration::from_secs(5));
        assert!(
            child.try_wait().expect("the child").is_none(),
            "still running"
        );
        child.kill().expect("killing sleep");
        child.wait().expect("reaping sleep");
    }
}
