//! End-to-end tests over HTTP against the real server, on both storage
//! backends: every test that applies runs once on PostgreSQL and once on
//! SQLite (`<module>::<test>::postgres` / `…::sqlite`; see the macros in
//! `helpers`). Each test gets its own database (a PostgreSQL database, or a
//! SQLite file in a temporary directory), so they run in parallel.

#[macro_use]
mod helpers;

mod admin_users;
mod backstack;
mod cli;
mod communities;
mod concurrency;
mod connections;
mod cookies;
mod doubtfire;
mod erasure;
mod facility_users;
mod first_run;
mod hardening;
mod hostile_input;
mod kolibri;
mod kolibri_collections;
mod kolibri_deleted_users;
mod kolibri_first_password;
mod kolibri_flows;
mod kolibri_settings_actions;
mod kolibri_world;
mod master_key;
mod metrics;
mod oauth;
mod openapi;
mod openarchiver;
mod openarchiver_users;
mod operations;
mod outage;
mod own_account;
mod processes;
mod profiles;
mod read_models;
mod rebuild;
mod recovery;
mod relay;
mod sign_flow;
mod subscriptions;
mod throttling;
mod validation;
