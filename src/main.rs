//! The `ads_exporter` binary: parse flags, then run the exporter or the simulator until SIGINT
//! or SIGTERM.

use std::process::ExitCode;

use ads_exporter::cli::{Cli, Command, SimulateArgs, one_line_error};
use ads_exporter::config::LogSettings;
use ads_exporter::exporter::Exporter;
use ads_exporter::simulator::{Evolution, FaultPlan, Schedule, Simulator, SimulatorConfig};
use clap::error::ErrorKind;

fn main() -> ExitCode {
    // process_start_time_seconds where /proc/stat is hidden (systemd's ProcSubset=pid).
    ads_exporter::metrics::process::record_start();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::parse_args(args.clone()) {
        Ok(cli) => cli,
        Err(error) if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) if args.iter().any(|a| a == "--check-config") => {
            // A check names the problem as a problem, and exits 1 as for every other.
            let line = one_line_error(&error, &args);
            eprintln!("1 problem found:\n  - {}", line.trim_start_matches("ads_exporter: "));
            return ExitCode::FAILURE;
        }
        Err(error) => {
            eprintln!("{}", one_line_error(&error, &args));
            return ExitCode::from(2);
        }
    };
    if cli.check_config && cli.command.is_some() {
        eprintln!("ads_exporter: --check-config checks the exporter's configuration; it takes no subcommand");
        return ExitCode::from(2);
    }
    if cli.check_config {
        return check(&cli);
    }
    if cli.command.is_none()
        && let Err(message) = cli.config()
    {
        eprintln!("ads_exporter: {message}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ads_exporter: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Some(Command::Simulate(args)) => simulate(args).await,
            None => run(&cli).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ads_exporter: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `--check-config`: what would run, or every problem (exit 1).
fn check(cli: &Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ads_exporter: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let report = runtime.block_on(ads_exporter::check::check(cli));
    print!("{}", report.text);
    if report.problems.is_empty() {
        println!("OK: the configuration is good");
        ExitCode::SUCCESS
    } else {
        eprintln!("{} found:", ads_exporter::check::plural(report.problems.len(), "problem"));
        for problem in report.problems.iter().flat_map(|p| p.lines()) {
            eprintln!("  - {problem}");
        }
        ExitCode::FAILURE
    }
}

async fn run(cli: &Cli) -> Result<(), String> {
    let config = cli.config()?;
    ads_exporter::logging::init(&config.log).map_err(|e| e.to_string())?;
    // Before anything slow: a signal during start-up waits for it instead of killing the process.
    let (mut shutdown, mut hangups) = ads_exporter::signals::listen();
    let exporter = Exporter::start(config).await.map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            () = shutdown.wait() => break,
            () = hangups.next() => {
                if exporter.supervisor.reloadable() {
                    tracing::debug!("SIGHUP");
                    // Reloads apply one at a time; SIGTERM need not wait for one. Success and
                    // failure are both logged, and in the reload metrics.
                    let supervisor = exporter.supervisor.clone();
                    tokio::spawn(async move { supervisor.reload().await });
                } else {
                    tracing::info!("SIGHUP: nothing to reload: the targets come from the flags, not --config.file");
                }
            }
        }
    }
    tracing::info!("shutting down");
    exporter.shutdown().await;
    Ok(())
}

async fn simulate(args: &SimulateArgs) -> Result<(), String> {
    ads_exporter::logging::init(&LogSettings { level: args.log.level.clone(), format: args.log.format })
        .map_err(|e| e.to_string())?;
    let config = SimulatorConfig {
        home_region: args.home_region.clone(),
        evolution: (!args.still).then(Evolution::default),
        seed: args.seed,
        any_role: true,
    };
    let simulator = Simulator::demo(args.tasks, config);
    if let Some(fault) = &args.fault {
        let schedule = args.fault_probability.map_or(Schedule::Always, Schedule::Probability);
        simulator.set_fault(Some(FaultPlan {
            fault: fault.clone(),
            schedule,
            operation: args.fault_operation.clone(),
        }));
    }
    if let Some(fault) = &args.sts_fault {
        let operation = args.sts_fault_operation.clone();
        simulator.set_sts_fault(Some(FaultPlan { fault: fault.clone(), schedule: Schedule::Always, operation }));
    }
    for arn in &args.deny_role {
        simulator.deny_role(arn);
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {} (--listen): {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // The address on standard output, so a script or test can find a port-0 simulator.
    println!("listening on http://{addr}");
    tracing::info!(%addr, "ADS simulator serving");
    simulator.serve(listener, ads_exporter::signals::shutdown()).await;
    Ok(())
}
