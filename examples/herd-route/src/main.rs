//! `herd-route --servers host:port[:weight],... [--router ketama|rendezvous] < keys`
//!
//! Reads one key per line from stdin and prints `key<TAB>host:port`: the node the ring
//! places it on. Nothing is contacted, so it answers "where does this key live?" for a
//! production cluster from a laptop. The default ketama ring agrees with libmemcached's
//! weighted ketama (and the PHP/Python clients built on it) for the same server list.

use std::io::{self, BufRead, BufWriter, Write};
use std::process::ExitCode;

use reel_herd::{Ketama, Node, Rendezvous, Router};

const USAGE: &str =
    "usage: herd-route --servers host:port[:weight],... [--router ketama|rendezvous] < keys";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("herd-route: {message}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut servers = None;
    let mut router: Box<dyn Router> = Box::new(Ketama);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("{name} needs a value"))
        };
        match name.as_str() {
            "--servers" | "-s" => servers = Some(value()?),
            "--router" => {
                router = match value()?.as_str() {
                    "ketama" => Box::new(Ketama),
                    "rendezvous" | "hrw" => Box::new(Rendezvous),
                    other => return Err(format!("unknown router `{other}`")),
                }
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let servers = servers.ok_or("--servers is required")?;
    let nodes = Node::parse_list(&servers).map_err(|e| e.to_string())?;
    if nodes.is_empty() {
        return Err("--servers lists no node".into());
    }
    let stdin = io::stdin();
    let stdout = io::stdout();
    route(
        router.as_ref(),
        &nodes,
        stdin.lock(),
        BufWriter::new(stdout.lock()),
    )
    .map_err(|e| e.to_string())
}

/// Writes `key<TAB>host:port` for every line of `input`.
fn route(
    router: &dyn Router,
    nodes: &[Node],
    input: impl BufRead,
    mut output: impl Write,
) -> io::Result<()> {
    let placement = router.build(nodes);
    for line in input.lines() {
        let line = line?;
        let key = line.trim_end_matches('\r');
        if let Some(index) = placement.locate(key.as_bytes()) {
            writeln!(output, "{key}\t{}", nodes[index].address())?;
        }
    }
    output.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_one_line_per_key() {
        let nodes = Node::parse_list("10.0.0.1:11211,10.0.0.2:11211:2").unwrap();
        let mut out = Vec::new();
        route(&Ketama, &nodes, "a\nb\r\nc\n".as_bytes(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("b\t10.0.0."));
        let ring = Ketama.build(&nodes);
        let expected = nodes[ring.locate(b"c").unwrap()].address();
        assert_eq!(lines[2], format!("c\t{expected}"));
    }
}
