//! `ringrpc`: the command-line tool for rpcx services, ringrpc's or rpcx-go's.
//!
//! ```text
//! ringrpc call --server tcp@127.0.0.1:8972 --service Arith --method Mul '{"A":3,"B":4}'
//! ringrpc call --server tls@127.0.0.1:8972 --tls-ca ca.crt --service Arith --method Mul '{"A":3,"B":4}'
//! ringrpc call --http --server 127.0.0.1:8972 --service Arith --method Mul '{"A":3,"B":4}'
//! ringrpc list --registry etcd://127.0.0.1:2379/rpcx_test
//! ringrpc watch --registry etcd://127.0.0.1:2379/rpcx_test
//! ringrpc set-state inactive --registry etcd://127.0.0.1:2379/rpcx_test --service Arith --server tcp@127.0.0.1:8972
//! ringrpc set-weight 5 --registry etcd://127.0.0.1:2379/rpcx_test --service Arith --server tcp@127.0.0.1:8972
//! ringrpc completions bash
//! ```
//!
//! Modules: [`call`] (over rpcx, direct or through an etcd registry), [`gateway`] (the same
//! call as an HTTP request to rpcx's gateway), [`payload`] (what the payload argument and the
//! reply look like), [`registry`] (the rpcx-etcd layout read as services and servers, `list`),
//! [`watch`] and [`edit`] (`set-state`, `set-weight`), [`tls`] (`call`'s TLS options). Only this binary prints; the library
//! it calls never does.
//!
//! Exit status: 0 on success, 1 when the server answered with an error (its text is printed),
//! 2 when the command could not be carried out (bad input, connection, timeout, etcd).

mod call;
mod edit;
mod gateway;
mod payload;
mod registry;
mod tls;
mod watch;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "ringrpc",
    version,
    about = "Call rpcx services and manage their etcd registry"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Call one method and print the reply (payload on stdout, metadata on stderr).
    Call(Box<call::CallArgs>),
    /// List the services and servers under a registry base path.
    List(registry::ViewArgs),
    /// Print servers as they are added, removed or updated, until Ctrl-C.
    Watch(watch::WatchArgs),
    /// Mark a server active or inactive (state=inactive: clients stop selecting it).
    SetState(edit::SetStateArgs),
    /// Set a server's weight (weight=N, read by weighted round robin).
    SetWeight(edit::SetWeightArgs),
    /// Print a shell completion script, e.g. `ringrpc completions bash > /etc/bash_completion.d/ringrpc`.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

/// The server answered, with an error: exit status 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ServiceError(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(run(cli.command)),
        Err(error) => Err(error.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let answered = error.downcast_ref::<ServiceError>().is_some()
                || matches!(
                    error.downcast_ref::<ringrpc_client::Error>(),
                    Some(ringrpc_client::Error::Service { .. })
                );
            if answered {
                eprintln!("error: {error}");
                ExitCode::from(1)
            } else {
                eprintln!("ringrpc: {error:#}");
                ExitCode::from(2)
            }
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Call(args) => call::run(&args).await,
        Command::List(args) => registry::list(&args).await,
        Command::Watch(args) => watch::run(&args).await,
        Command::SetState(args) => edit::set_state(&args).await,
        Command::SetWeight(args) => edit::set_weight(&args).await,
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "ringrpc",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    }
}
