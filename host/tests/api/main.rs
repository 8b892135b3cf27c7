//! Black-box tests of berth through real HTTP, real components and a real
//! database, each test with its own data dir on 127.0.0.1:0.

mod helpers;

mod admission;
mod canary;
mod canary_replicas;
mod cli;
mod clients;
mod components;
mod console;
mod durability;
mod errors;
mod hotswap;
mod isolation;
mod items;
mod javascript;
mod loading;
mod namespaces;
mod observability;
mod operators;
mod patterns;
mod pg_attacks;
mod pg_isolation;
mod plane;
mod plugin_files;
mod python;
mod replicas;
mod restart;
mod reuse;
mod sandbox;
mod sql_sandbox;
mod tenants;
mod typed;
mod under_attack;
mod victim;
