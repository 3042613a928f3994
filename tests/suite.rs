//! The integration suite, linked as one test binary: one binary per file made
//! ~30 copies of the crate and its dependencies (gigabytes on the CI disk) and
//! as many links. Each file below is still a module named after what it tests;
//! shared harnesses live in `support/`.

mod support;

mod admin_api;
mod autoscale_e2e;
mod backtest_cli;
mod cli_usage;
mod controller_cli;
mod controller_driver;
mod controller_machine;
mod controller_machine_props;
mod controller_persist;
mod daemon_restart;
mod demo_e2e;
mod demo_pty;
mod doc_blocks;
mod docker_confinement;
mod drain_view;
mod faults_engine;
mod faults_proxy;
mod faults_release;
mod fleet_daemon;
mod guards_e2e;
mod guards_sim;
mod hostile_text;
mod journal_asciicast;
mod journal_player;
mod journal_reader;
mod journal_replay;
mod journal_writer;
mod load_generator;
mod machine_scale;
mod plan_errors;
mod preview_routing;
mod process_deploys;
mod proxy_edges;
mod proxy_http;
mod proxy_split;
mod public_listener;
mod registry_pull;
mod release_e2e;
mod remote_engines;
mod replay_recordings;
mod replay_what_if;
mod runtime_docker_faults;
mod scaling;
mod socket_activation;
mod state_dir_trust;
mod swarm_e2e;
mod takeover;
mod text_sanitize;
mod trains;
mod tui_pty;
mod tui_snapshots;
mod watchers;
