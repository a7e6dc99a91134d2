//! Signatures and types as one line of text, spaced the way rustfmt would.

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use quote::ToTokens;

/// A variant's fields without their attributes (doc comments are not API):
/// ` { a: u32, b: String }`, `(u32, String)` or nothing.
pub(super) fn render_fields(fields: &syn::Fields) -> String {
    let each: Vec<String> = fields
        .iter()
        .map(|field| {
            let ty = render(field.ty.to_token_stream());
            match &field.ident {
                Some(name) => format!("{name}: {ty}"),
                None => ty,
            }
        })
        .collect();
    match fields {
        syn::Fields::Named(_) => format!(" {{ {} }}", each.join(", ")),
        syn::Fields::Unnamed(_) => format!("({})", each.join(", ")),
        syn::Fields::Unit => String::new(),
    }
}

/// `fn path<generics>(inputs) -> output where ...`, with `const`/`async`/`unsafe` kept.
pub(super) fn signature(sig: &syn::Signature, path: &str) -> String {
    let mut out = String::new();
    if sig.constness.is_some() {
        out.push_str("const ");
    }
    if sig.asyncness.is_some() {
        out.push_str("async ");
    }
    if sig.unsafety.is_some() {
        out.push_str("unsafe ");
    }
    out.push_str("fn ");
    out.push_str(path);
    out.push_str(&render(sig.generics.to_token_stream()));
    out.push('(');
    out.push_str(&render(sig.inputs.to_token_stream()));
    if sig.variadic.is_some() {
        out.push_str(", ...");
    }
    out.push(')');
    let output = render(sig.output.to_token_stream());
    if !output.is_empty() {
        out.push(' ');
        out.push_str(&output);
    }
    if let Some(w) = &sig.generics.where_clause {
        out.push(' ');
        out.push_str(&render(w.to_token_stream()));
    }
    out
}

/// Tokens as one line, spaced the way rustfmt would for a signature.
pub fn render(tokens: TokenStream) -> String {
    let mut out = String::new();
    render_into(tokens, &mut out);
    out.trim().to_owned()
}

const SPACED_KEYWORDS: [&str; 9] = [
    "for", "in", "as", "dyn", "impl", "mut", "where", "move", "unsafe",
];

fn render_into(tokens: TokenStream, out: &mut String) {
    // `prev`: what was written last, to decide on a space before the next token.
    #[derive(PartialEq, Clone, Copy)]
    enum Prev {
        Start,
        Word,
        Keyword,
        Open,
        Joint,
        NoSpaceAfter,
        SpaceAfter,
        CloseAngle,
        Group,
    }
    let mut prev = Prev::Start;
    for token in tokens {
        match token {
            TokenTree::Ident(ident) => {
                let text = ident.to_string();
                if matches!(
                    prev,
                    Prev::Word | Prev::Keyword | Prev::SpaceAfter | Prev::CloseAngle | Prev::Group
                ) {
                    out.push(' ');
                }
                out.push_str(&text);
                prev = if SPACED_KEYWORDS.contains(&text.as_str()) {
                    Prev::Keyword
                } else {
                    Prev::Word
                };
            }
            TokenTree::Literal(literal) => {
                if matches!(
                    prev,
                    Prev::Word | Prev::Keyword | Prev::SpaceAfter | Prev::CloseAngle
                ) {
                    out.push(' ');
                }
                out.push_str(&literal.to_string());
                prev = Prev::Word;
            }
            TokenTree::Punct(punct) => {
                let c = punct.as_char();
                let joint = punct.spacing() == Spacing::Joint;
                match c {
                    ',' | ';' => {
                        out.push(c);
                        prev = Prev::SpaceAfter;
                    }
                    ':' if joint || out.ends_with(':') => {
                        out.push(':');
                        prev = if joint {
                            Prev::Joint
                        } else {
                            Prev::NoSpaceAfter
                        };
                    }
                    ':' => {
                        out.push(':');
                        prev = Prev::SpaceAfter;
                    }
                    '=' | '+' | '|' if !joint && prev != Prev::Joint => {
                        if c == '=' && out.ends_with(['<', '>', '!', '=']) {
                            out.push('=');
                        } else {
                            out.push(' ');
                            out.push(c);
                        }
                        prev = Prev::SpaceAfter;
                    }
                    '-' if joint => {
                        out.push_str(" -");
                        prev = Prev::Joint;
                    }
                    '>' if prev == Prev::Joint && out.ends_with('-') => {
                        out.push('>');
                        prev = Prev::SpaceAfter;
                    }
                    '>' if prev == Prev::Joint && out.ends_with('=') => {
                        out.push('>');
                        prev = Prev::SpaceAfter;
                    }
                    '=' if joint => {
                        out.push_str(" =");
                        prev = Prev::Joint;
                    }
                    '<' => {
                        out.push('<');
                        prev = Prev::Open;
                    }
                    '>' => {
                        out.push('>');
                        prev = Prev::CloseAngle;
                    }
                    '\'' => {
                        if matches!(
                            prev,
                            Prev::Word | Prev::Keyword | Prev::SpaceAfter | Prev::CloseAngle
                        ) {
                            out.push(' ');
                        }
                        out.push('\'');
                        prev = Prev::Joint;
                    }
                    '&' | '*' | '!' | '#' | '?' | '$' => {
                        if matches!(prev, Prev::Keyword | Prev::SpaceAfter) {
                            out.push(' ');
                        }
                        out.push(c);
                        prev = Prev::NoSpaceAfter;
                    }
                    _ => {
                        out.push(c);
                        prev = if joint {
                            Prev::Joint
                        } else {
                            Prev::NoSpaceAfter
                        };
                    }
                }
            }
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => ("{ ", " }"),
                    Delimiter::None => ("", ""),
                };
                if matches!(prev, Prev::Keyword | Prev::SpaceAfter)
                    || (group.delimiter() == Delimiter::Brace && prev != Prev::Start)
                {
                    out.push(' ');
                }
                out.push_str(open);
                render_into(group.stream(), out);
                out.push_str(close);
                prev = Prev::Group;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> String {
        render(text.parse().unwrap())
    }

    #[test]
    fn renders_signatures_like_rustfmt() {
        assert_eq!(r("& 'a mut self , key : & str"), "&'a mut self, key: &str");
        assert_eq!(
            r("-> Result < Option < Vec < u8 > > , Error >"),
            "-> Result<Option<Vec<u8>>, Error>"
        );
        assert_eq!(
            r("impl Fn ( u32 ) -> u32 + Send + 'static"),
            "impl Fn(u32) -> u32 + Send + 'static"
        );
        assert_eq!(r("where T : Clone + ? Sized"), "where T: Clone + ?Sized");
        assert_eq!(r("std :: time :: Duration"), "std::time::Duration");
        assert_eq!(r("cfg (feature = \"tokio\")"), "cfg(feature = \"tokio\")");
        assert_eq!(r("[u8 ; 32]"), "[u8; 32]");
        assert_eq!(r("dyn std :: error :: Error"), "dyn std::error::Error");
    }

    #[test]
    fn diff_shows_removed_and_added_lines() {
        assert_eq!(super::super::diff("a\nb\n", "b\nc\n"), "- a\n+ c\n");
        assert_eq!(super::super::diff("a\n", "a\n"), "");
    }
}
