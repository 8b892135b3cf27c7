//! A plain WASI command: a valid component, but of the `wasi:cli/command`
//! world, not `berth:service`.

fn main() {
    println!("I am a command, not a berth service");
}
