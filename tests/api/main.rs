//! End-to-end tests over HTTP against the real server and the real
//! PostgreSQL. Each test gets its own database, so they run in parallel.

mod helpers;

mod cli;
mod concurrency;
mod openapi;
mod operations;
mod processes;
mod read_models;
mod sign_flow;
mod throttling;
mod validation;
