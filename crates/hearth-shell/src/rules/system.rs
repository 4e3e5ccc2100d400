//! The running system: killing every process, shutting down, removing the crontab,
//! disabling the firewall or SELinux, running as root.

use super::{Findings, has_flag, split_args};
use crate::Risk;
use crate::invocation::Invocation;

pub(super) fn check(inv: &Invocation, out: &mut Findings) {
    let Some(program) = inv.program() else { return };
    let args = inv.args();
    let texts: Vec<&str> = args.iter().map(|a| a.text.as_str()).collect();
    match program {
        "sudo" | "doas" | "su" | "pkexec" | "run0" | "sudoedit" => {
            out.add(
                "privilege-escalation",
                Risk::Moderate,
                format!("`{program}` runs the command as root"),
            );
            if opens_root_shell(program, &texts) {
                out.add(
                    "root-shell",
                    Risk::High,
                    format!(
                        "`{program}` opens a shell as root: whatever comes next runs unchecked"
                    ),
                );
            }
        }
        "kill" => {
            kill(&texts, out);
            kill_unfiltered_ps(args, out);
        }
        "pkill" | "killall" => pkill(program, &texts, out),
        "killall5" => out.add(
            "kill-all-processes",
            Risk::Critical,
            "`killall5` signals every process on the machine",
        ),
        "shutdown" | "reboot" | "poweroff" | "halt" => {
            let cancels = texts.iter().any(|t| matches!(*t, "-c" | "--help"));
            if !cancels {
                power(program, out);
            }
        }
        "init" | "telinit" if texts.first().is_some_and(|t| matches!(*t, "0" | "6")) => {
            power(program, out);
        }
        "systemctl" | "loginctl" => systemctl(program, &texts, out),
        "service" => {
            if let [unit, action, ..] = texts.as_slice()
                && is_security_unit(unit)
                && matches!(*action, "stop" | "disable")
            {
                firewall(&format!("service {unit} {action}"), out);
            }
        }
        "crontab" => {
            let split = split_args(args);
            if has_flag(&split.options, "r", &["--remove"]) {
                out.add(
                    "crontab-remove",
                    Risk::High,
                    "`crontab -r` deletes every scheduled job of the user without a backup",
                );
            }
        }
        "ufw"
            if texts
                .first()
                .is_some_and(|t| matches!(*t, "disable" | "reset")) =>
        {
            firewall("ufw disable", out);
        }
        "setenforce"
            if texts
                .first()
                .is_some_and(|t| matches!(t.to_ascii_lowercase().as_str(), "0" | "permissive")) =>
        {
            firewall("setenforce 0", out);
        }
        "iptables" | "ip6tables" | "iptables-legacy" | "iptables-nft" => {
            let flushes = texts
                .iter()
                .any(|t| matches!(*t, "-F" | "--flush" | "-X" | "--delete-chain"));
            let opens = texts.windows(3).any(|w| w[0] == "-P" && w[2] == "ACCEPT");
            if flushes || opens {
                firewall(&format!("{program} {}", texts.join(" ")), out);
            }
        }
        "nft" if texts.windows(2).any(|w| w == ["flush", "ruleset"]) => {
            firewall("nft flush ruleset", out)
        }
        "aa-teardown" => firewall("aa-teardown", out),
        _ => {}
    }
}

fn power(what: &str, out: &mut Findings) {
    out.add(
        "shutdown",
        Risk::High,
        format!("`{what}` shuts down or restarts the machine, ending every session"),
    );
}

fn firewall(what: &str, out: &mut Findings) {
    out.add(
        "security-disabled",
        Risk::High,
        format!("`{what}` turns off the firewall or mandatory access control"),
    );
}

fn is_security_unit(unit: &str) -> bool {
    let unit = unit.trim_end_matches(".service");
    matches!(
        unit,
        "firewalld" | "ufw" | "iptables" | "ip6tables" | "nftables" | "apparmor" | "auditd"
    )
}

fn systemctl(program: &str, texts: &[&str], out: &mut Findings) {
    let verbs: Vec<&str> = texts
        .iter()
        .copied()
        .filter(|t| !t.starts_with('-'))
        .collect();
    let Some((verb, units)) = verbs.split_first() else {
        return;
    };
    match *verb {
        "poweroff" | "reboot" | "halt" | "kexec" | "soft-reboot" => {
            power(&format!("{program} {verb}"), out)
        }
        "suspend" | "hibernate" | "hybrid-sleep" => out.add(
            "suspend",
            Risk::Moderate,
            format!("`{program} {verb}` suspends the machine"),
        ),
        "stop" | "disable" | "mask" if units.iter().any(|u| is_security_unit(u)) => {
            firewall(&format!("systemctl {verb} {}", units.join(" ")), out);
        }
        _ => {}
    }
}

/// `kill -9 -1` signals every process the user may signal; pid 1 is init.
fn kill(texts: &[&str], out: &mut Findings) {
    let mut i = 0;
    let mut pids = Vec::new();
    let mut signal_seen = false;
    while let Some(text) = texts.get(i) {
        match *text {
            "--" => {
                pids.extend(texts[i + 1..].iter().copied());
                break;
            }
            "-s" | "-n" | "--signal" => {
                signal_seen = true;
                i += 1;
            }
            "-l" | "-L" | "--list" | "--table" => return,
            t if t.starts_with('-') && !signal_seen && t.len() > 1 => signal_seen = true,
            t => pids.push(t),
        }
        i += 1;
    }
    if pids.contains(&"-1") {
        out.add(
            "kill-all-processes",
            Risk::Critical,
            "`kill … -1` signals every process you can reach, usually ending the session or the system",
        );
    } else if pids.contains(&"1") {
        out.add(
            "kill-all-processes",
            Risk::Critical,
            "signalling process 1 (init) can bring the whole system down",
        );
    }
}

/// `sudo -i`, `sudo -s`, `sudo bash`, `sudo su`, `su`, `su -`, `su root`: an
/// interactive root shell rather than one command.
fn opens_root_shell(program: &str, texts: &[&str]) -> bool {
    const SHELLS: &[&str] = &["sh", "bash", "zsh", "dash", "ksh", "fish", "su"];
    if program == "su" {
        let operands: Vec<&str> = texts
            .iter()
            .copied()
            .filter(|t| !t.starts_with('-'))
            .collect();
        return texts
            .iter()
            .all(|t| matches!(*t, "-" | "-l" | "--login" | "root"))
            && operands.iter().all(|t| *t == "root");
    }
    if !matches!(program, "sudo" | "doas" | "run0") {
        return false;
    }
    let mut rest = texts.iter().copied();
    while let Some(t) = rest.next() {
        match t {
            "-i" | "-s" | "--login" | "--shell" => return true,
            // Another user's shell is not a root shell.
            "-u" => {
                if rest
                    .next()
                    .is_some_and(|user| !matches!(user, "root" | "0" | "#0"))
                {
                    return false;
                }
            }
            // Options that take a value: skip it.
            "-g" | "-C" | "-D" | "-h" | "-p" | "-r" | "-t" | "-U" => {
                rest.next();
            }
            t if t.starts_with('-') => {}
            shell => {
                let shell = shell.rsplit('/').next().unwrap_or(shell);
                return SHELLS.contains(&shell) && rest.next().is_none();
            }
        }
    }
    false
}

/// `kill $(ps -ef | awk '{print $2}')`: every process `ps` lists, with nothing
/// filtering the list, is signalled.
fn kill_unfiltered_ps(args: &[crate::word::Word], out: &mut Findings) {
    const FILTERS: &[&str] = &[
        "grep", "egrep", "fgrep", "rg", "pgrep", "pidof", "head", "tail", "sed",
    ];
    let unfiltered = args.iter().any(|a| {
        a.subst_programs.iter().any(|p| p == "ps")
            && !a
                .subst_programs
                .iter()
                .any(|p| FILTERS.contains(&p.as_str()))
    });
    if unfiltered {
        out.add(
            "kill-all-processes",
            Risk::Critical,
            "the process ids come from `ps` with nothing filtering them: every process is signalled",
        );
    }
}

/// `pkill -9 .` matches every process.
fn pkill(program: &str, texts: &[&str], out: &mut Findings) {
    let patterns: Vec<&str> = texts
        .iter()
        .copied()
        .filter(|t| !t.starts_with('-'))
        .collect();
    let everything = patterns.iter().any(|p| {
        matches!(
            *p,
            "." | ".*" | "" | "^" | ".+" | "^.*$" | "init" | "systemd"
        )
    });
    let regex = program == "pkill" || texts.iter().any(|t| *t == "-r" || *t == "--regexp");
    if everything && regex {
        out.add(
            "kill-all-processes",
            Risk::Critical,
            format!("`{program}` with a pattern that matches every process"),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::Risk;
    use crate::rules::test_risk as risk;

    #[test]
    fn killing_every_process_is_critical() {
        for source in [
            "kill -9 -1",
            "kill -KILL -1",
            "kill -s KILL -1",
            "kill -- -1",
            "pkill -9 .",
            "killall5 -9",
            "kill -9 1",
        ] {
            assert_eq!(risk(source), Risk::Critical, "{source}");
        }
        assert_eq!(risk("kill -9 $(ps -ef | awk '{print $2}')"), Risk::Critical);
        assert_eq!(
            risk("kill $(ps aux | grep firefox | awk '{print $2}')"),
            Risk::Safe
        );
        assert_eq!(risk("kill $(pgrep firefox)"), Risk::Safe);
        assert_eq!(risk("kill 1234"), Risk::Safe);
        assert_eq!(risk("kill -9 1234"), Risk::Safe);
        assert_eq!(risk("pkill firefox"), Risk::Safe);
    }

    #[test]
    fn an_interactive_root_shell_is_high() {
        for source in [
            "sudo -i",
            "sudo -s",
            "sudo bash",
            "sudo su",
            "su",
            "su -",
            "sudo -u root bash",
        ] {
            assert_eq!(risk(source), Risk::High, "{source}");
        }
        for source in [
            "sudo apt update",
            "sudo bash -c 'apt update'",
            "su - postgres",
            "sudo -u www-data bash",
        ] {
            assert!(risk(source) <= Risk::Moderate, "{source}");
        }
    }

    #[test]
    fn shutting_down_is_high_and_cancelling_is_not() {
        for source in [
            "shutdown -h now",
            "reboot",
            "poweroff",
            "halt",
            "init 0",
            "init 6",
            "systemctl reboot",
            "systemctl poweroff",
        ] {
            assert_eq!(risk(source), Risk::High, "{source}");
        }
        assert_eq!(risk("shutdown -c"), Risk::Safe);
    }

    #[test]
    fn disabling_security_is_high() {
        for source in [
            "ufw disable",
            "setenforce 0",
            "iptables -F",
            "systemctl stop firewalld",
            "nft flush ruleset",
            "iptables -P INPUT ACCEPT",
        ] {
            assert_eq!(risk(source), Risk::High, "{source}");
        }
        assert_eq!(risk("iptables -L"), Risk::Safe);
    }

    #[test]
    fn crontab_removal_is_high_and_listing_is_safe() {
        assert_eq!(risk("crontab -r"), Risk::High);
        assert_eq!(risk("crontab -l"), Risk::Safe);
    }

    #[test]
    fn running_as_root_is_at_least_moderate() {
        assert_eq!(risk("sudo apt update"), Risk::Moderate);
        assert_eq!(risk("doas ls"), Risk::Moderate);
    }
}
