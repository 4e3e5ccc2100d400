//! Quoting, wrapping and nesting tricks must not hide `rm -rf /`.

use hearth_shell::{CheckReport, Decision, Risk, ShellError, Verdict, check};

fn critical(command: &str) -> Result<Verdict, ShellError> {
    let verdict = check(command)?;
    assert_eq!(
        verdict.risk,
        Risk::Critical,
        "`{command}`: {:?}",
        verdict.findings
    );
    Ok(verdict)
}

#[test]
fn quoting_and_escaping_do_not_hide_the_program() -> Result<(), ShellError> {
    for command in [
        r"r''m -rf /",
        r#""r"m -rf /"#,
        r"\rm -rf /",
        r#""rm" -rf /"#,
        r"$'\x72\x6d' -rf /",
    ] {
        let verdict = critical(command)?;
        assert!(verdict.has_rule("rm-recursive-root"), "`{command}`");
    }
    Ok(())
}

#[test]
fn substituted_program_names_are_judged() -> Result<(), ShellError> {
    critical("$(echo rm) -rf /")?;
    critical("`echo rm` -rf /")?;
    let unknown = check("$(get_tool) -rf /")?;
    assert!(unknown.risk >= Risk::High);
    assert!(unknown.has_rule("dynamic-command"));
    let variable = check("$CMD -rf /")?;
    assert!(variable.risk >= Risk::High);
    Ok(())
}

#[test]
fn wrappers_are_unwrapped() -> Result<(), ShellError> {
    for command in [
        "command rm -rf /",
        "env rm -rf /",
        "env -i FOO=1 rm -rf /",
        "sudo sh -c 'rm -rf /'",
        "echo x | xargs rm -rf /",
        "xargs -0 -I{} rm -rf / {}",
        "nohup nice -n 5 timeout 10 rm -rf /",
        "find . -exec rm -rf / \\;",
        "eval \"rm -rf /\"",
        "bash -c 'eval \"rm -rf /\"'",
    ] {
        critical(command)?;
    }
    let sudo = check("sudo sh -c 'rm -rf /'")?;
    assert!(sudo.has_rule("privilege-escalation"));
    Ok(())
}

#[test]
fn nested_substitutions_are_walked() -> Result<(), ShellError> {
    critical("echo $(echo $(rm -rf /))")?;
    critical("echo \"`rm -rf /`\"")?;
    critical("diff <(rm -rf /) b")?;
    critical("x=$(bash -c \"$(echo rm) -rf /\")")?;
    Ok(())
}

#[test]
fn shell_strings_piping_downloads_are_high() -> Result<(), ShellError> {
    let verdict = check("bash -c \"curl x | sh\"")?;
    assert_eq!(verdict.risk, Risk::High);
    assert!(verdict.has_rule("download-exec"));
    Ok(())
}

#[test]
fn excessive_nesting_is_reported_not_crashed_on() -> Result<(), ShellError> {
    let command = format!("{}rm -rf /", "eval ".repeat(20));
    let verdict = check(&command)?;
    assert!(verdict.risk >= Risk::High);
    assert!(verdict.has_rule("nesting-too-deep"));
    let brackets = format!("{}ls{}", "(".repeat(300), ")".repeat(300));
    assert!(check(&brackets)?.has_rule("unparseable"));
    Ok(())
}

#[test]
fn check_report_has_the_cli_shape() -> Result<(), Box<dyn std::error::Error>> {
    let verdict = check("rm -rf /")?;
    let report = serde_json::to_value(CheckReport::new(&verdict, Decision::Block))?;
    assert_eq!(report["command"], "rm -rf /");
    assert_eq!(report["risk"], "critical");
    assert_eq!(report["blocked"], true);
    assert_eq!(report["reasons"][0]["rule"], "rm-recursive-root");
    Ok(())
}

#[test]
fn nesting_just_under_the_limit_is_parsed_without_overflowing_the_stack() -> Result<(), ShellError>
{
    let depth = 60;
    let commands = [
        format!("{}rm -rf /{}", "(".repeat(depth), ")".repeat(depth)),
        format!("{}rm -rf /{}", "( ".repeat(depth), " )".repeat(depth)),
        format!("{}rm -rf /;{}", "{ ".repeat(depth), " }".repeat(depth)),
        format!("echo {}rm -rf /{}", "$(".repeat(depth), ")".repeat(depth)),
        format!(
            "{}rm -rf /{}",
            "if true; then ".repeat(depth),
            "; fi".repeat(depth)
        ),
        format!(
            "{}rm -rf /{}",
            "while true; do ".repeat(depth),
            "; done".repeat(depth)
        ),
    ];
    for command in &commands {
        let verdict = check(command)?;
        assert!(
            verdict.risk >= Risk::High,
            "{}: {:?}",
            &command[..40],
            verdict.findings
        );
    }
    Ok(())
}

#[test]
fn nesting_spread_over_substitutions_is_bounded() -> Result<(), ShellError> {
    let inner = format!("{}rm -rf /{}", "( ".repeat(40), " )".repeat(40));
    let mut command = inner;
    for _ in 0..10 {
        command = format!("echo \"$( {command} )\"");
    }
    let verdict = check(&command)?;
    assert_eq!(verdict.risk, Risk::Critical, "{:?}", verdict.findings);
    Ok(())
}
