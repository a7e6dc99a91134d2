//! Reading the proxy headers: single-value headers, `X-Forwarded-For` and RFC 7239
//! `Forwarded` lists, walked from the right as far as trusted proxies vouch.

use super::*;

/// The address of a single-value header, if there is exactly one well-formed line.
pub(super) fn single_value<'a>(
    mut lines: impl Iterator<Item = Option<&'a str>>,
    parse: fn(&str) -> Option<IpAddr>,
) -> Option<IpAddr> {
    let only = lines.next()??;
    if lines.next().is_some() {
        return None;
    }
    parse(only).map(|ip| ip.to_canonical())
}

/// A `CloudFront-Viewer-Address` value: `address:port`, IPv6 unbracketed with the port after
/// the last colon (as CloudFront writes it) or bracketed (`[2001:db8::17]:46532`). The port
/// is required: CloudFront always writes one, so a value without it did not come from
/// CloudFront.
pub(super) fn parse_viewer_address(text: &str) -> Option<IpAddr> {
    let text = text.trim_matches([' ', '\t']);
    if let Some(rest) = text.strip_prefix('[') {
        let (inner, port) = rest.split_once("]:")?;
        let ip = inner.parse::<Ipv6Addr>().ok()?;
        return is_port(port).then_some(IpAddr::V6(ip));
    }
    let (host, port) = text.rsplit_once(':')?;
    let ip = host.parse::<IpAddr>().ok()?;
    is_port(port).then_some(ip)
}

/// Decimal digits only, at most 65535.
pub(super) fn is_port(port: &str) -> bool {
    !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()
}

/// The state of a right-to-left walk.
pub(super) struct Walk<'r> {
    pub(super) trusted: &'r TrustedProxies,
    /// The last address a trusted hop vouched for (the peer to begin with).
    pub(super) client: IpAddr,
    /// Entries read so far.
    pub(super) seen: usize,
    /// Entries to read at most.
    pub(super) limit: usize,
}

impl Walk<'_> {
    /// One entry, `None` when it is not an address.
    fn step(&mut self, hop: Option<IpAddr>) -> ControlFlow<IpAddr> {
        let Some(ip) = hop else {
            return ControlFlow::Break(self.client);
        };
        let ip = ip.to_canonical();
        self.seen += 1;
        self.client = ip;
        if self.seen >= self.limit || !self.trusted.contains(ip) {
            ControlFlow::Break(ip)
        } else {
            ControlFlow::Continue(())
        }
    }

    /// The entries of one `X-Forwarded-For` line, right to left; lazy, so the entries a walk
    /// never reaches are never parsed.
    pub(super) fn xff_line(&mut self, line: &str) -> ControlFlow<IpAddr> {
        for entry in line.rsplit(',') {
            self.step(parse_node(entry))?;
        }
        ControlFlow::Continue(())
    }

    /// The elements of one `Forwarded` line, split lazily from the right: the elements a
    /// walk never reaches are never looked at, so nothing a client writes left of the
    /// proxies' elements (an unbalanced quote, a stray escape) can change how those are read.
    /// Commas inside quoted strings do not split; proxies never escape inside an address, so
    /// an element with a backslash is malformed, as is one left inside an unterminated quote.
    pub(super) fn forwarded_line(&mut self, line: &str) -> ControlFlow<IpAddr> {
        let bytes = line.as_bytes();
        let mut end = bytes.len();
        let mut in_quotes = false;
        let mut escaped = false;
        for index in (0..bytes.len()).rev() {
            match bytes[index] {
                b'\\' => escaped = true,
                b'"' => in_quotes = !in_quotes,
                b',' if !in_quotes => {
                    let element = &line[index + 1..end];
                    self.step((!escaped).then(|| forwarded_for(element)).flatten())?;
                    end = index;
                    escaped = false;
                }
                _ => {}
            }
        }
        let element = &line[..end];
        self.step(
            (!escaped && !in_quotes)
                .then(|| forwarded_for(element))
                .flatten(),
        )
    }
}

/// The `for=` address of one `Forwarded` element. `None` (which stops the walk) when the
/// element has no `for`, more than one, or one that is `unknown`, obfuscated (`_hidden`),
/// escaped (no proxy escapes an address: a backslash is a parser-differential attempt) or
/// not an address.
pub(super) fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut found = None;
    let mut in_quotes = false;
    let mut escaped = false;
    let mut start = 0;
    let mut pair_end = |end: usize, start: &mut usize| -> Option<()> {
        let pair = &element[*start..end];
        *start = end + 1;
        match pair.split_once('=') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("for") => {
                if found.replace(value.trim()).is_some() {
                    return None;
                }
            }
            Some(_) => {}
            None if pair.trim().is_empty() => {}
            None => return None,
        }
        Some(())
    };
    for (index, byte) in element.bytes().enumerate() {
        if in_quotes {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_quotes = false,
                _ => {}
            }
        } else if byte == b'"' {
            in_quotes = true;
        } else if byte == b';' {
            pair_end(index, &mut start)?;
        }
    }
    pair_end(element.len(), &mut start)?;
    let value = found?;
    let value = match value.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"')?,
        None => value,
    };
    if value.contains(['\\', '"']) {
        return None;
    }
    parse_node(value)
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:80`, with RFC 7239's obfuscated port (`:_abc`) too. `unknown`, obfuscated
/// identifiers, zone ids and anything else are not addresses.
pub(super) fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim_matches([' ', '\t']);
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    let (host, port) = match text.strip_prefix('[') {
        Some(rest) => {
            let (inner, after) = rest.split_once(']')?;
            let ip = inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6)?;
            match after {
                "" => return Some(ip),
                _ => (ip, after.strip_prefix(':')?),
            }
        }
        None => {
            let (host, port) = text.rsplit_once(':')?;
            let ip = host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)?;
            (ip, port)
        }
    };
    valid_port(port).then_some(host)
}

/// A port number, or RFC 7239's `obfport` (`_` and letters, digits, `.`, `_`, `-`).
pub(super) fn valid_port(port: &str) -> bool {
    match port.strip_prefix('_') {
        Some(obfuscated) => {
            !obfuscated.is_empty()
                && obfuscated
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        }
        None => port.parse::<u16>().is_ok() && port.bytes().all(|b| b.is_ascii_digit()),
    }
}
