//! memcached and redis-server processes on loopback ports.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;
use crate::tools::find_program;

/// How long a server gets to accept connections after it is spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// A free TCP port on 127.0.0.1, as the operating system hands it out.
pub fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(Error::io("binding an ephemeral port"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(Error::io("reading the ephemeral port"))
}

/// Waits until something accepts TCP connections on `addr`, up to `timeout`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Memcached,
    Redis,
}

impl Kind {
    fn program(self) -> &'static str {
        match self {
            Self::Memcached => "memcached",
            Self::Redis => "redis-server",
        }
    }

    fn install(self) -> &'static str {
        match self {
            Self::Memcached => "sudo apt-get install -y memcached",
            Self::Redis => "sudo apt-get install -y redis-server",
        }
    }

    fn args(self, port: u16) -> Vec<String> {
        let port = port.to_string();
        match self {
            // -U 0: no UDP; -t 2: two worker threads are plenty on loopback.
            Self::Memcached => [
                "-l",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "0",
                "-t",
                "2",
                "-m",
                "64",
                "-u",
                "root",
            ]
            .map(String::from)
            .to_vec(),
            Self::Redis => [
                "--bind",
                "127.0.0.1",
                "--port",
                &port,
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--protected-mode",
                "no",
                "--loglevel",
                "warning",
            ]
            .map(String::from)
            .to_vec(),
        }
    }

    /// Sends the cheapest command and checks the reply, so "ready" means "answers".
    fn probe(self, addr: SocketAddr) -> bool {
        let (request, expect): (&[u8], &[u8]) = match self {
            Self::Memcached => (b"version\r\n", b"VERSION"),
            Self::Redis => (b"PING\r\n", b"+PONG"),
        };
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        if stream.write_all(request).is_err() {
            return false;
        }
        let mut buf = [0u8; 64];
        matches!(stream.read(&mut buf), Ok(n) if buf[..n].starts_with(expect))
    }
}

#[derive(Debug)]
struct Server {
    kind: Kind,
    port: u16,
    child: Option<Child>,
}

impl Server {
    fn start(kind: Kind) -> Result<Self, Error> {
        let mut last = None;
        // A port picked by free_port can be taken by someone else before the server binds it;
        // try a few.
        for _ in 0..5 {
            let port = free_port()?;
            let mut server = Self {
                kind,
                port,
                child: None,
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(error @ Error::Missing { .. }) => return Err(error),
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| Error::NotReady {
            server: kind.program().into(),
            detail: "no port".into(),
        }))
    }

    fn spawn(&mut self) -> Result<(), Error> {
        let program = find_program(self.kind.program()).ok_or_else(|| Error::Missing {
            program: self.kind.program().into(),
            install: self.kind.install().into(),
        })?;
        let mut child = Command::new(program)
            .args(self.kind.args(self.port))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(Error::io(format!("spawning {}", self.kind.program())))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(Error::NotReady {
                    server: self.describe(),
                    detail: format!("exited with {status}"),
                });
            }
            if self.kind.probe(self.addr()) {
                self.child = Some(child);
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(Error::NotReady {
            server: self.describe(),
            detail: format!("no answer within {READY_TIMEOUT:?}"),
        })
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    fn describe(&self) -> String {
        format!("{} on {}", self.kind.program(), self.addr())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) -> Result<(), Error> {
        self.kill();
        // The old socket may linger briefly; both servers set SO_REUSEADDR, so a few tries do.
        let mut last = None;
        for _ in 0..20 {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(error) => last = Some(error),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(last.unwrap_or_else(|| Error::NotReady {
            server: self.describe(),
            detail: "restart failed".into(),
        }))
    }

    fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

macro_rules! server_type {
    ($(#[$doc:meta])* $name:ident, $kind:expr, $scheme:literal) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            server: Server,
        }

        impl $name {
            /// Starts one server on a free loopback port and waits until it answers.
            pub fn start() -> Result<Self, Error> {
                Ok(Self { server: Server::start($kind)? })
            }

            /// Starts `count` independent servers.
            pub fn cluster(count: usize) -> Result<Vec<Self>, Error> {
                (0..count).map(|_| Self::start()).collect()
            }

            /// The server's address (127.0.0.1 and its port).
            pub fn addr(&self) -> SocketAddr {
                self.server.addr()
            }

            /// The server's port.
            pub fn port(&self) -> u16 {
                self.server.port
            }

            /// `host:port`, as discovery lists and clients take it.
            pub fn host_port(&self) -> String {
                self.addr().to_string()
            }

            /// A URL for clients that take one.
            pub fn url(&self) -> String {
                format!(concat!($scheme, "://{}"), self.addr())
            }

            /// Kills the process (SIGKILL): connections drop and the port stops answering, as
            /// when a node dies.
            pub fn kill(&mut self) {
                self.server.kill();
            }

            /// Starts the server again on the same port, empty, and waits until it answers.
            pub fn restart(&mut self) -> Result<(), Error> {
                self.server.restart()
            }

            /// Whether the process is alive.
            pub fn is_running(&mut self) -> bool {
                self.server.is_running()
            }

            /// The process id while it runs, to send it signals (SIGSTOP freezes a server
            /// with its connections open: a black hole, not a refusal).
            pub fn pid(&self) -> Option<u32> {
                self.server.child.as_ref().map(Child::id)
            }
        }
    };
}

server_type!(
    /// A memcached process on loopback, killed on drop.
    Memcached,
    Kind::Memcached,
    "memcache"
);
server_type!(
    /// A redis-server process on loopback (no persistence), killed on drop.
    Redis,
    Kind::Redis,
    "redis"
);
