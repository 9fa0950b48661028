//! Measure the container runtime's own syscall needs and print them as JSON:
//! `cargo run -p confine-runner --example calibrate -- [RUNS] [--confirm] [--nnp] [--user UID:GID]`
//! (needs root and a Docker engine).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs = args
        .iter()
        .find_map(|a| a.parse::<u32>().ok())
        .unwrap_or(10);
    let confirm = args.iter().any(|a| a == "--confirm");
    let mut spec = confine_runner::RunSpec {
        network: Some("none".to_string()),
        user: args
            .iter()
            .position(|a| a == "--user")
            .and_then(|i| args.get(i + 1).cloned()),
        ..Default::default()
    };
    if args.iter().any(|a| a == "--nnp") {
        spec.extra =
            Some(serde_json::json!({"HostConfig": {"SecurityOpt": ["no-new-privileges"]}}));
    }
    let result = (|| -> Result<(), confine_runner::RunnerError> {
        let engine = confine_engine::Engine::from_env().map_err(|source| {
            confine_runner::RunnerError::Engine {
                context: "connect".into(),
                source,
            }
        })?;
        let image = confine_runner::ensure_calibration_image(&engine)?;
        let argv = vec!["/bin/busybox".to_string(), "true".to_string()];
        let cal = confine_runner::calibrate_with(&engine, &image, &argv, &spec, runs)?;
        println!("{}", serde_json::to_string_pretty(&cal).unwrap_or_default());
        if confirm {
            let conf = confine_runner::confirm_calibration(&engine, &cal)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&conf).unwrap_or_default()
            );
            println!("required: {:?}", conf.required());
        }
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("calibrate: {e}");
            ExitCode::FAILURE
        }
    }
}
