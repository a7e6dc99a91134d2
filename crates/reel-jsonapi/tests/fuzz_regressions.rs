//! Replays every input the fuzzers kept (`fuzz/regressions/`) through both fuzz targets'
//! invariants, so a fixed crash stays fixed without cargo-fuzz.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]

#[path = "../fuzz/fuzz_targets/checks.rs"]
mod checks;

#[test]
fn kept_crash_inputs_pass_every_target() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        checks::document_parser(&data);
        checks::typed_reader(&data);
        count += 1;
    }
    assert!(count >= 2, "the kept inputs are in {}", dir.display());
}

#[test]
fn the_typed_reader_survives_cycles_and_self_references() {
    for input in [
        r#"{"data":{"type":"nodes","id":"1","relationships":{"next":{"data":{"type":"nodes","id":"1"}},"children":{"data":[{"type":"nodes","id":"1"},{"type":"nodes","id":"2"}]}}},"included":[{"type":"nodes","id":"2","relationships":{"next":{"data":{"type":"nodes","id":"1"}},"children":{"data":[{"type":"nodes","id":"2"}]}}}]}"#,
        r#"{"atomic:operations":[{"op":"add","data":{"type":"nodes","lid":"x"}},{"op":"update","ref":{"type":"nodes","lid":"x","relationship":"next"},"data":{"type":"nodes","lid":"x"}},{"op":"remove","ref":{"type":"nodes","lid":"x"}}]}"#,
        r#"{"atomic:results":[{},{"data":{"type":"nodes","id":"1"}},{"data":null}]}"#,
    ] {
        checks::typed_reader(input.as_bytes());
        checks::document_parser(input.as_bytes());
    }
}

mod mutated {
    //! A fuzzer's poor cousin that runs in every `cargo test`: valid documents reel writes and
    //! Atomic Operations documents, mutated (bytes replaced, removed, JSON tokens inserted),
    //! through both targets' checks — above all, the one-pass reader never accepts what the
    //! thorough path refuses.

    use proptest::prelude::*;

    use super::checks;

    const SEEDS: &[&str] = &[
        r#"{"data":[{"type":"stories","id":"1","attributes":{"title":"a","n":[1,{"k":"v"}]},"relationships":{"author":{"data":{"type":"people","id":"9"},"links":{"related":"/s/1/author"}},"tags":{"data":[{"type":"tags","id":"2"}]},"ext:x":{"q":1}},"links":{"self":"/s/1"},"meta":{"m":1}}],"included":[{"type":"people","id":"9","attributes":{"name":"Dan"}}],"links":{"next":"/s?page%5Bafter%5D=a%2Bb"},"meta":{"page":{"size":1}},"jsonapi":{"version":"1.1"}}"#,
        r#"{"data":{"type":"nodes","id":"1","relationships":{"next":{"data":{"type":"nodes","id":"2"}},"children":{"data":[{"type":"nodes","id":"1"}]}}},"included":[{"type":"nodes","id":"2","attributes":{"name":"b"},"relationships":{"next":{"data":{"type":"nodes","id":"1"}}}}]}"#,
        r#"{"atomic:operations":[{"op":"add","data":{"type":"nodes","lid":"a","attributes":{"name":"x"}}},{"op":"update","ref":{"type":"nodes","lid":"a","relationship":"next"},"data":{"type":"nodes","lid":"a"}},{"op":"remove","ref":{"type":"nodes","id":"3"}}]}"#,
        r#"{"atomic:results":[{"data":{"type":"nodes","id":"1","attributes":{"name":"x"}}},{}]}"#,
    ];

    const TOKENS: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "null",
        "\"id\"",
        "\"type\"",
        "\"lid\"",
        "\"data\"",
        "\"links\"",
        "\"meta\"",
        "\"x:y\"",
        "\"@a\"",
        "\"a.b\"",
        "1",
        "\"\"",
        "\"relationships\"",
    ];

    #[derive(Debug, Clone)]
    enum Edit {
        Replace(usize, u8),
        Remove(usize, usize),
        Insert(usize, usize),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Edit::Replace(at, byte)),
            (any::<usize>(), 1usize..8).prop_map(|(at, len)| Edit::Remove(at, len)),
            (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, token)| Edit::Insert(at, token)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn mutated_documents_keep_the_invariants(
            seed in 0..SEEDS.len(),
            edits in proptest::collection::vec(edit(), 1..4),
        ) {
            let mut data = SEEDS[seed].as_bytes().to_vec();
            for edit in edits {
                let len = data.len().max(1);
                match edit {
                    Edit::Replace(at, byte) => {
                        if let Some(b) = data.get_mut(at % len) {
                            *b = byte;
                        }
                    }
                    Edit::Remove(at, n) => {
                        let at = at % len;
                        let end = (at + n).min(data.len());
                        if at < end {
                            data.drain(at..end);
                        }
                    }
                    Edit::Insert(at, token) => {
                        let at = (at % len).min(data.len());
                        data.splice(at..at, TOKENS[token].bytes());
                    }
                }
            }
            checks::document_parser(&data);
            checks::typed_reader(&data);
        }
    }
}
