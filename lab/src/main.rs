//! lab: the guided experiments of `make lab`. Each asks one question, shows the commands it
//! runs (so a reader can repeat them by hand) and the evidence solab found, and says PASS
//! or FAIL. Writes target/lab/report.json; exits 0 only when every experiment passed.

mod ctx;
mod experiments;
mod view;

use anyhow::{Context, Result};
use clap::Parser;
use ctx::{Lab, Style};
use experiments::Experiment;
use serde_json::{Value, json};
use solab_lab::cli::Cli;
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let code = match run() {
        Ok(all_passed) => i32::from(!all_passed),
        Err(e) => {
            eprintln!("lab: error: {e:#}");
            2
        }
    };
    ctx::cleanup_everything();
    std::process::exit(code);
}

fn run() -> Result<bool> {
    let cli = Cli::parse();
    if cli.list {
        for e in experiments::ALL {
            println!("{}. {}\n   {}", e.id, e.title, e.question);
        }
        return Ok(true);
    }
    for n in &cli.only {
        if !experiments::ALL.iter().any(|e| e.id == *n) {
            anyhow::bail!(
                "there is no experiment {n} (there are 1 to {})",
                experiments::ALL.len()
            );
        }
    }
    let bin = match cli.bin {
        Some(b) => b,
        None => std::env::current_exe()
            .context("cannot find this program")?
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default(),
    };
    let style = Style::auto(&cli.color);
    let mut lab = Lab::new(bin, cli.out.clone(), cli.fixtures.clone(), style)?;
    ctrlc::set_handler(|| {
        eprintln!("\nlab: interrupted: stopping every process it started and removing its regions");
        ctx::cleanup_and_exit(130);
    })
    .context("cannot install the Ctrl-C handler")?;

    introduce(&lab);
    let started = Instant::now();
    let results: Vec<Value> = experiments::ALL
        .iter()
        .filter(|e| cli.only.is_empty() || cli.only.contains(&e.id))
        .map(|e| run_one(&mut lab, e))
        .collect();
    conclude(&lab, &results, started)
}

/// The namespace of the run, and whether frame numbers are visible.
fn introduce(lab: &Lab) {
    let s = lab.style;
    println!(
        "namespace {} (SOLIB_NAMESPACE of every process it starts)",
        lab.ns
    );
    println!(
        "{} as uid {}: {}",
        s.bold("solab lab"),
        nix::unistd::geteuid(),
        if lab.privileged {
            "frame numbers visible (strong evidence)"
        } else {
            "no CAP_SYS_ADMIN: frame numbers hidden, every verdict rests on the weaker evidence and says so"
        }
    );
}

/// Runs experiment `e`, stops every process it started, prints its verdict and returns its
/// entry in report.json.
fn run_one(lab: &mut Lab, e: &Experiment) -> Value {
    let s = lab.style;
    println!();
    println!(
        "{}",
        s.bold(&format!(
            "── {}/{}  {} ──",
            e.id,
            experiments::ALL.len(),
            e.title
        ))
    );
    println!("{} {}", s.bold("Question:"), e.question);
    lab.commands.clear();
    lab.evidence.clear();
    lab.start_pictures(e.id, e.title);
    println!("{}", s.bold("Commands and evidence:"));
    let t = Instant::now();
    let outcome = (e.run)(lab);
    ctx::cleanup_everything();
    let (pass, weak, why) = match outcome {
        Ok(o) => (o.pass, o.weak, o.why),
        Err(err) => (
            false,
            false,
            format!("the experiment could not run: {err:#}"),
        ),
    };
    let verdict = match (pass, weak) {
        (true, false) => s.green("PASS"),
        (true, true) => s.green("PASS (weak evidence)"),
        (false, _) => s.red("FAIL"),
    };
    println!("{verdict}  {why}");
    json!({
        "id": e.id,
        "title": e.title,
        "question": e.question,
        "pass": pass,
        "weak": weak,
        "why": why,
        "commands": lab.commands,
        "evidence": lab.evidence,
        "pictures": lab.pictures,
        "seconds": t.elapsed().as_secs_f64(),
    })
}

/// Prints the summary and writes report.json; true when every experiment passed.
fn conclude(lab: &Lab, results: &[Value], started: Instant) -> Result<bool> {
    let s = lab.style;
    println!();
    println!("{}", s.bold("Summary"));
    for r in results {
        let pass = r["pass"].as_bool() == Some(true);
        println!(
            "  {:>2}. {:<46} {}",
            r["id"],
            r["title"].as_str().unwrap_or(""),
            if pass { s.green("PASS") } else { s.red("FAIL") }
        );
    }
    let passed = results.iter().filter(|r| r["pass"] == true).count();
    let failed = results.len() - passed;
    let report = json!({
        "schema": "solab.lab.v1",
        "uid": nix::unistd::geteuid().as_raw(),
        "namespace": lab.ns,
        "privileged": lab.privileged,
        "passed": passed,
        "failed": failed,
        "seconds": started.elapsed().as_secs_f64(),
        "experiments": results,
    });
    let path = lab.out.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "{passed} passed, {failed} failed in {:.1} s; report: {}",
        started.elapsed().as_secs_f64(),
        path.display()
    );
    if failed > 0 {
        println!(
            "{}",
            s.yellow("Some claims did not hold on this machine: the evidence above says why.")
        );
    }
    Ok(failed == 0)
}
