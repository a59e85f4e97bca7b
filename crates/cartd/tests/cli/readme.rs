//! The README as a test: its shell blocks run, in order, in one bash shell, as a newcomer would
//! run them, and every output line it documents is checked.
//!
//! # What runs
//!
//! Every fenced block of `README.md` whose language is `sh` (or `bash`, `shell`) runs, unless
//! the line right before it (blank lines aside) is a marker
//! `<!-- readme-test: skip (REASON) -->` with a non-empty reason. The opening block (`cargo run
//! --release -p cartd -- serve` and `cargo test --workspace`) carries such a marker: a release
//! build serving until stopped, and the whole test suite, which contains this test. Blocks that
//! need a service a fresh machine lacks (PostgreSQL, …) must carry one too. Nothing else is
//! skipped: a marker that is not right before a block, a marker of another form, or a fenced
//! block with no language (which could be commands) fails the test. Blocks in another language
//! (`json`, `text`, …) are not commands and are not run.
//!
//! The blocks run as one script under `set -euo pipefail`, so a failing command, a failing
//! pipeline stage or an unset variable fails the test; the working directory is a fresh empty
//! directory, so the README's relative paths (`cartd.db`, `dev-rsa.pem`) are fresh data.
//!
//! # The expectation convention
//!
//! In a block, a line `# => TEXT` (after optional indentation) documents one line of output. The
//! lines of a block are read as steps: commands, then the `# =>` lines that follow them. The
//! `# =>` lines of a step are the whole standard output of the step's commands (everything
//! since the previous `# =>` line of the block, or since the block's start):
//!
//! - one `# =>` line per output line, in order; blank output lines are ignored, and trailing
//!   whitespace (the `\r` of HTTP headers) is removed before comparing;
//! - in TEXT, `...` matches any text, including none, within that one line; everything else
//!   matches itself exactly (so a literal `...` cannot be expected);
//! - commands after the last `# =>` line of a block run, but their output is not checked;
//! - `# =>` lines go after complete commands, never inside one (a `for` loop's expectations go
//!   after its `done`).
//!
//! Standard error is not checked (it shows in the failure message). Standard output is the
//! shell's, so a background process printing there would show in whichever step is running;
//! `cartd serve` and `cartd jwks serve` log to standard error only.
//!
//! # What this test stands in for
//!
//! - `cargo`: a `cargo` script first on `PATH` runs `cargo run [-q] [--release] -p cartd -- ARGS`
//!   as the `cartd` binary this test was built with (`CARGO_BIN_EXE_cartd`, usually a debug
//!   build), and `-p cartd-lake` as the `cartd-lake` binary beside it (which `cargo test
//!   --workspace` builds), by `exec`, so `$!` of a `… &` line is the server's pid as with the real `cargo run`
//!   (which also replaces itself with the program on Unix). Compiling in release mode inside a
//!   test would take many minutes on a small machine. Any other `cargo` command fails the test.
//! - Ports: the README sets `PORT=${PORT:-8080} IDP_PORT=${IDP_PORT:-8081}` itself; this test
//!   exports `PORT` and `IDP_PORT` as two free ports, so the walkthrough's text runs unchanged.
//! - Environment: the test's own `CARTD_` variables are removed, as a fresh shell has none.
//! - Processes: the script runs in a process group of its own, killed when the test ends, so a
//!   server the README leaves running (or that a failure left behind) does not outlive the test.
//!
//! Needs `bash`, `curl`, `sed` and `grep`; without them the test fails rather than skips.
//!
//! Run it alone with `cargo test -p cartd --test cli readme`.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::free_port;

/// How long the whole walkthrough may take (it takes seconds; generating an RSA key in a debug
/// build is the slowest step).
const WALKTHROUGH_TIMEOUT: Duration = Duration::from_secs(300);

/// What a marker line starts with.
const MARKER_PREFIX: &str = "<!-- readme-test:";

/// What an expectation line starts with (after indentation).
const EXPECTATION_PREFIX: &str = "# => ";

/// Printed by the script on a line of its own before each step, as `STEP_MARK` N `@@`.
const STEP_MARK: &str = "@@readme-test step ";
/// Printed by the script after the last step.
const END_MARK: &str = "@@readme-test end@@";

/// Languages whose blocks are commands.
const SHELL_LANGUAGES: [&str; 3] = ["sh", "bash", "shell"];

/// The repository's root directory.
fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// The text of `README.md`.
fn readme() -> String {
    fs::read_to_string(repository_root().join("README.md")).expect("README.md")
}

/// A fenced code block of a Markdown text.
#[derive(Debug)]
struct Block {
    /// The 1-based line of the opening fence.
    line: usize,
    /// The fence's info string (`sh`, `json`, …), empty when there is none.
    language: String,
    /// The lines between the fences, with their 1-based line numbers.
    body: Vec<(usize, String)>,
    /// The reason of a skip marker right before the block.
    skip: Option<String>,
}

impl Block {
    /// Whether the block's lines are shell commands.
    fn is_shell(&self) -> bool {
        SHELL_LANGUAGES.contains(&self.language.as_str())
    }
}

/// The fenced blocks of a Markdown text, with their skip markers; an error for a stray or
/// malformed marker, a fence without a language, or an unclosed fence.
fn blocks(markdown: &str) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    let mut marker: Option<(usize, String)> = None;
    let mut open: Option<Block> = None;
    for (index, text) in markdown.lines().enumerate() {
        let line = index + 1;
        let trimmed = text.trim();
        if let Some(block) = open.as_mut() {
            if trimmed == "```" {
                blocks.push(open.take().expect("an open block"));
            } else {
                block.body.push((line, text.to_owned()));
            }
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix(MARKER_PREFIX) {
            let reason = rest
                .trim()
                .strip_prefix("skip (")
                .and_then(|r| r.strip_suffix(") -->"))
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .ok_or(format!(
                    "line {line}: a marker is `{MARKER_PREFIX} skip (REASON) -->`: {trimmed}"
                ))?;
            if let Some((earlier, _)) = marker {
                return Err(format!(
                    "line {earlier}: the marker is not right before a code block"
                ));
            }
            marker = Some((line, reason.to_owned()));
        } else if let Some(language) = trimmed.strip_prefix("```") {
            let language = language.trim().to_owned();
            if language.is_empty() {
                return Err(format!(
                    "line {line}: a code block without a language (say `sh` if it is commands)"
                ));
            }
            open = Some(Block {
                line,
                language,
                body: Vec::new(),
                skip: marker.take().map(|(_, reason)| reason),
            });
        } else if !trimmed.is_empty()
            && let Some((earlier, _)) = marker
        {
            return Err(format!(
                "line {earlier}: the marker is not right before a code block"
            ));
        }
    }
    if let Some(block) = open {
        return Err(format!("line {}: the code block is not closed", block.line));
    }
    if let Some((earlier, _)) = marker {
        return Err(format!(
            "line {earlier}: the marker is not right before a code block"
        ));
    }
    Ok(blocks)
}

/// Commands and the output documented for them.
#[derive(Debug)]
struct Step {
    /// The commands, with their README lines.
    commands: Vec<(usize, String)>,
    /// The `# =>` lines after them: README line and expected text.
    expected: Vec<(usize, String)>,
}

/// The steps of a shell block (see the module's documentation).
fn steps(block: &Block) -> Result<Vec<Step>, String> {
    let mut steps: Vec<Step> = Vec::new();
    let mut current = Step {
        commands: Vec::new(),
        expected: Vec::new(),
    };
    for (line, text) in &block.body {
        let trimmed = text.trim_start();
        if let Some(expected) = trimmed.strip_prefix(EXPECTATION_PREFIX) {
            if current.commands.is_empty() {
                return Err(format!(
                    "line {line}: an expected output line with no command"
                ));
            }
            current
                .expected
                .push((*line, expected.trim_end().to_owned()));
        } else if trimmed.starts_with("#=>") || trimmed.trim_end() == "# =>" {
            return Err(format!(
                "line {line}: an expectation is `{EXPECTATION_PREFIX}TEXT` with some TEXT"
            ));
        } else {
            if !current.expected.is_empty() {
                steps.push(std::mem::replace(
                    &mut current,
                    Step {
                        commands: Vec::new(),
                        expected: Vec::new(),
                    },
                ));
            }
            current.commands.push((*line, text.clone()));
        }
    }
    if !current.commands.is_empty() {
        steps.push(current);
    }
    Ok(steps)
}

/// Whether an output line matches an expected line, where `...` stands for any text.
fn matches(expected: &str, line: &str) -> bool {
    let mut parts = expected.split("...");
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// The script that runs the steps in one shell, printing a mark before each.
fn script(steps: &[Step]) -> String {
    let mut script = String::from("set -euo pipefail\n");
    for (index, step) in steps.iter().enumerate() {
        let line = step.commands[0].0;
        script.push_str(&format!(
            "# README.md:{line}\nprintf '\\n%s\\n' '{STEP_MARK}{index}@@'\n"
        ));
        for (_, command) in &step.commands {
            script.push_str(command);
            script.push('\n');
        }
    }
    script.push_str(&format!("printf '\\n%s\\n' '{END_MARK}'\n"));
    script
}

/// The non-blank output lines of each step that started, and whether the script got to its
/// end.
fn step_outputs(stdout: &str) -> (Vec<Vec<String>>, bool) {
    let mut outputs: Vec<Vec<String>> = Vec::new();
    for line in stdout.lines() {
        let line = line.trim_end();
        if line == END_MARK {
            return (outputs, true);
        }
        if line.starts_with(STEP_MARK) && line.ends_with("@@") {
            outputs.push(Vec::new());
        } else if !line.is_empty()
            && let Some(output) = outputs.last_mut()
        {
            output.push(line.to_owned());
        }
    }
    (outputs, false)
}

/// What differs between a step's documented and actual output, if anything.
fn mismatch(step: &Step, output: &[String]) -> Option<String> {
    let fits = step.expected.len() == output.len()
        && step
            .expected
            .iter()
            .zip(output)
            .all(|((_, expected), line)| matches(expected, line));
    if fits {
        return None;
    }
    let mut report = format!(
        "README.md:{}: the output of\n{}\ndoes not match what the README documents.\n  documented:\n",
        step.commands[0].0,
        commands_text(step)
    );
    for (line, expected) in &step.expected {
        report.push_str(&format!("    README.md:{line}: {expected}\n"));
    }
    report.push_str("  printed:\n");
    for line in output {
        let marker = if step.expected.iter().any(|(_, e)| matches(e, line)) {
            ' '
        } else {
            '!'
        };
        report.push_str(&format!("  {marker} {line}\n"));
    }
    Some(report)
}

/// A step's commands with their README line numbers, for failure messages.
fn commands_text(step: &Step) -> String {
    step.commands
        .iter()
        .map(|(line, text)| format!("    {line:>4} | {text}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A `cargo` that runs `cargo run [-q] [--release] -p cartd -- ARGS` as `binary ARGS` (see the
/// module's documentation), `-p cartd-lake` as the `cartd-lake` built beside it, and refuses
/// anything else.
fn cargo_shim(binary: &Path) -> String {
    let lake = binary.with_file_name("cartd-lake");
    let lake = lake.to_str().expect("a UTF-8 path");
    let binary = binary.to_str().expect("a UTF-8 path");
    assert!(!binary.contains('\''), "a binary path without quotes");
    format!(
        r#"#!/usr/bin/env bash
# The README test's stand-in for cargo (crates/cartd/tests/cli/readme.rs): the README's
# `cargo run [-q] [--release] -p cartd -- ARGS` runs the cartd the test was built with (and
# `-p cartd-lake` the cartd-lake beside it), without compiling anything; exec keeps the pid, as
# the real `cargo run` does on Unix.
set -euo pipefail
refuse() {{ echo "readme test: the README runs \`cargo $ALL\`, which the test does not stand in for: $1" >&2; exit 97; }}
ALL="$*"
[ "${{1-}}" = run ] || refuse "only \`cargo run -p cartd\`"
shift
package=
while [ $# -gt 0 ]; do
  case "$1" in
    -q|--quiet|--release) shift ;;
    -p|--package) package="${{2-}}"; shift 2 ;;
    --) shift
        case "$package" in
          cartd) exec '{binary}' "$@" ;;
          cartd-lake) [ -x '{lake}' ] || refuse "{lake} is not built (cargo test --workspace builds it)"
                      exec '{lake}' "$@" ;;
          *) refuse "not -p cartd or -p cartd-lake" ;;
        esac ;;
    *) refuse "unknown option $1" ;;
  esac
done
refuse "no -- before cartd's arguments"
"#
    )
}

/// The script's process group, killed when the test ends, whatever it left running.
struct ProcessGroup(u32);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0)])
            .stderr(Stdio::null())
            .status();
    }
}

fn two_free_ports() -> (u16, u16) {
    let first = free_port();
    loop {
        let second = free_port();
        if second != first {
            return (first, second);
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[test]
fn the_readme_walkthrough_runs_as_written_and_prints_what_it_documents() {
    let blocks = blocks(&readme()).unwrap_or_else(|e| panic!("README.md:{e}"));
    let mut steps = Vec::new();
    let mut skipped = Vec::new();
    for block in blocks.iter().filter(|b| b.is_shell()) {
        match &block.skip {
            Some(reason) => skipped.push(format!("README.md:{} ({reason})", block.line)),
            None => steps.extend(steps_of(block)),
        }
    }
    let expectations: usize = steps.iter().map(|s| s.expected.len()).sum();
    assert!(
        !steps.is_empty() && expectations > 0,
        "the README has commands to run and output to check"
    );
    eprintln!(
        "readme test: {} steps, {expectations} documented output lines; skipped by marker: {}",
        steps.len(),
        if skipped.is_empty() {
            "none".to_owned()
        } else {
            skipped.join(", ")
        }
    );

    // Without curl the walkthrough's wait loops would spin until the timeout; say so at once.
    for tool in ["curl", "sed", "grep"] {
        let found = Command::new("bash")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(found, "the README test needs bash and {tool}");
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path().join("work");
    let bin = dir.path().join("bin");
    fs::create_dir(&work).expect("work dir");
    fs::create_dir(&bin).expect("bin dir");
    let shim = bin.join("cargo");
    fs::write(&shim, cargo_shim(Path::new(env!("CARGO_BIN_EXE_cartd")))).expect("shim");
    fs::set_permissions(&shim, fs::Permissions::from_mode(0o755)).expect("chmod");
    let script_path = dir.path().join("readme.sh");
    fs::write(&script_path, script(&steps)).expect("script");
    let stdout_path = dir.path().join("stdout");
    let stderr_path = dir.path().join("stderr");

    let (port, idp_port) = two_free_ports();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut search = vec![bin.clone()];
    search.extend(std::env::split_paths(&path));
    let mut command = Command::new("bash");
    command
        .arg(&script_path)
        .current_dir(&work)
        .env("PATH", std::env::join_paths(search).expect("PATH"))
        .env("PORT", port.to_string())
        .env("IDP_PORT", idp_port.to_string())
        .stdin(Stdio::null())
        // Files, not pipes: the servers the README starts in the background keep its output
        // open, so a pipe would not reach its end when the script does.
        .stdout(fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(fs::File::create(&stderr_path).expect("stderr file"))
        .process_group(0);
    for (name, _) in std::env::vars() {
        if name.starts_with("CARTD_") {
            command.env_remove(name);
        }
    }
    let mut child = command.spawn().expect("run bash");
    let _group = ProcessGroup(child.id());
    let deadline = Instant::now() + WALKTHROUGH_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for bash") {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = fs::read_to_string(&stdout_path).expect("stdout");
    let stderr = fs::read_to_string(&stderr_path).expect("stderr");
    let (outputs, finished) = step_outputs(&stdout);

    if !(finished && status.is_some_and(|s| s.success())) {
        let failed = outputs.len().saturating_sub(1);
        let why = match status {
            Some(status) => format!("the script stopped ({status})"),
            None => format!("the script did not end within {WALKTHROUGH_TIMEOUT:?}"),
        };
        panic!(
            "{why} in the step at README.md:{}:\n{}\nits output:\n{}\nstandard error (last lines):\n{}",
            steps[failed].commands[0].0,
            commands_text(&steps[failed]),
            outputs
                .get(failed)
                .map(|o| o.join("\n"))
                .unwrap_or_default(),
            tail(&stderr, 40)
        );
    }
    assert_eq!(outputs.len(), steps.len(), "every step printed its mark");
    let mismatches: Vec<String> = steps
        .iter()
        .zip(&outputs)
        .filter(|(step, _)| !step.expected.is_empty())
        .filter_map(|(step, output)| mismatch(step, output))
        .collect();
    assert!(
        mismatches.is_empty(),
        "{}\nstandard error (last lines):\n{}",
        mismatches.join("\n"),
        tail(&stderr, 20)
    );
}

fn steps_of(block: &Block) -> Vec<Step> {
    steps(block).unwrap_or_else(|e| panic!("README.md:{e}"))
}

#[test]
fn the_readme_links_stay_inside_the_repository() {
    let root = repository_root();
    let text = readme();
    assert!(
        !text.contains("../"),
        "the README points outside the repository"
    );
    let mut rest = text.as_str();
    let mut links = Vec::new();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = after.find(')').expect("a closed link");
        links.push(after[..end].to_owned());
        rest = &after[end..];
    }
    for link in &links {
        if link.starts_with("https://") || link.starts_with("http://") || link.starts_with('#') {
            continue;
        }
        let file = link.split('#').next().unwrap_or_default();
        let target = root
            .join(file)
            .canonicalize()
            .unwrap_or_else(|e| panic!("the README links {link}, which is missing: {e}"));
        assert!(
            target.starts_with(&root),
            "the README links {link}, outside the repository"
        );
    }
    for contract in [
        "docs/openapi.json",
        "docs/events.md",
        "docs/schema.graphql",
        "docs/DECISIONS.md",
    ] {
        assert!(
            links.iter().any(|l| l == contract),
            "the README links the contract document {contract}"
        );
    }
}

#[test]
fn an_expected_line_matches_itself_and_three_dots_match_any_text() {
    assert!(matches(r#"{"status":"ok"}"#, r#"{"status":"ok"}"#));
    assert!(!matches(r#"{"status":"ok"}"#, r#"{"status":"ok"} "#));
    assert!(!matches("etag: \"1\"", "etag: \"12\""));
    assert!(matches("guest_...", "guest_01JQ7Z8M3V2K9T4R6B5N1X0C8D"));
    assert!(matches("guest_...", "guest_"));
    assert!(!matches("guest_...", "user_1"));
    assert!(matches(
        r#"{...,"version":1,...}"#,
        r#"{"id":"x","version":1,"total":2}"#
    ));
    assert!(!matches(
        r#"{...,"version":1,...}"#,
        r#"{"id":"x","version":12}"#
    ));
    assert!(matches("a...b...c", "abc"));
    assert!(matches("a...b...b", "ab-b"));
    assert!(!matches("ab...ba", "aba"), "parts never overlap");
    assert!(matches("...", "anything"));
}

#[test]
fn a_step_is_commands_then_their_documented_output() {
    let markdown = "```sh\nA=1\necho $A\n# => 1\necho 2; echo 3\n# => 2\n# => 3\nkill 0\n```\n";
    let blocks = blocks(markdown).expect("valid");
    let steps = steps(&blocks[0]).expect("valid");
    let shape: Vec<(usize, usize)> = steps
        .iter()
        .map(|s| (s.commands.len(), s.expected.len()))
        .collect();
    assert_eq!(shape, [(2, 1), (1, 2), (1, 0)]);
    assert_eq!(steps[1].expected[1], (7, "3".to_owned()));

    let step = &steps[1];
    assert!(mismatch(step, &["2".into(), "3".into()]).is_none());
    assert!(mismatch(step, &["2".into()]).is_some(), "a line is missing");
    assert!(
        mismatch(step, &["2".into(), "3".into(), "4".into()]).is_some(),
        "an undocumented line"
    );
    let (outputs, finished) = step_outputs(&format!(
        "\n{STEP_MARK}0@@\n1\n\n{STEP_MARK}1@@\n2\r\n3\n\n{END_MARK}\n"
    ));
    assert!(finished);
    assert_eq!(outputs, [vec!["1"], vec!["2", "3"]]);
}

#[test]
fn only_a_marker_right_before_a_block_skips_it_and_a_bare_fence_is_refused() {
    let skipped = "<!-- readme-test: skip (needs PostgreSQL) -->\n\n```sh\npsql\n```\n";
    let parsed = blocks(skipped).expect("valid");
    assert_eq!(parsed[0].skip.as_deref(), Some("needs PostgreSQL"));
    assert!(
        blocks("```sh\necho\n```\n").expect("valid")[0]
            .skip
            .is_none()
    );

    for refused in [
        "<!-- readme-test: skip (x) -->\ntext\n```sh\necho\n```\n",
        "<!-- readme-test: skip () -->\n```sh\necho\n```\n",
        "<!-- readme-test: ignore -->\n```sh\necho\n```\n",
        "<!-- readme-test: skip (x) -->\n",
        "```\necho\n```\n",
        "```sh\necho\n",
    ] {
        assert!(blocks(refused).is_err(), "{refused:?} is refused");
    }
    let bad_expectation = blocks("```sh\necho\n#=> x\n```\n").expect("valid");
    assert!(steps(&bad_expectation[0]).is_err());
    let orphan = blocks("```sh\n# => x\n```\n").expect("valid");
    assert!(steps(&orphan[0]).is_err());
}
