//! Shared resources for the integration tests and the jsonapi-validator conformance check.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::process::Command;

use reel_jsonapi::{Context, Resource};

/// Per-request assigns: who is asking.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    pub admin: bool,
}

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "people", rename_all = "kebab-case")]
pub struct Person {
    #[jsonapi(id)]
    pub id: u64,
    pub first_name: String,
    pub last_name: String,
    pub twitter: Option<String>,
}

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "comments")]
pub struct Comment {
    #[jsonapi(id)]
    pub id: String,
    pub body: String,
    #[jsonapi(relationship)]
    pub author: Option<Box<Person>>,
}

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "articles", rename_all = "camelCase", context = Viewer)]
#[jsonapi(computed(name = "titleLength", with = title_length))]
pub struct Article {
    #[jsonapi(id)]
    pub id: u64,
    pub title: String,
    pub word_count: u32,
    #[jsonapi(visible_if = is_admin)]
    pub internal_notes: String,
    #[jsonapi(skip)]
    pub cache_key: String,
    #[jsonapi(relationship)]
    pub author: Option<Person>,
    #[jsonapi(relationship)]
    pub comments: Vec<Comment>,
}

fn title_length(article: &Article, _context: &Context<Viewer>) -> usize {
    article.title.chars().count()
}

fn is_admin(_article: &Article, context: &Context<Viewer>) -> bool {
    context.assigns().admin
}

/// A resource with id-only relationships: what create/update requests carry.
#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "posts", rename_all = "snake_case")]
pub struct Post {
    #[jsonapi(id)]
    pub id: u64,
    pub title: String,
    pub rating: Option<i32>,
    pub labels: Vec<String>,
    #[jsonapi(relationship, type = "people")]
    pub author: u64,
    #[jsonapi(relationship, type = "people", rename = "editor")]
    pub editor_id: Option<u64>,
    #[jsonapi(relationship, type = "tags")]
    pub tags: Vec<String>,
}

pub fn dan() -> Person {
    Person {
        id: 9,
        first_name: "Dan".into(),
        last_name: "Gebhardt".into(),
        twitter: Some("dgeb".into()),
    }
}

pub fn articles() -> Vec<Article> {
    let dan = dan();
    let ada = Person {
        id: 10,
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        twitter: None,
    };
    vec![
        Article {
            id: 1,
            title: "JSON:API paints my bikeshed!".into(),
            word_count: 300,
            internal_notes: "secret".into(),
            cache_key: "k1".into(),
            author: Some(dan.clone()),
            comments: vec![
                Comment {
                    id: "5".into(),
                    body: "First!".into(),
                    author: Some(Box::new(ada.clone())),
                },
                Comment {
                    id: "12".into(),
                    body: "I like XML better".into(),
                    author: Some(Box::new(dan.clone())),
                },
            ],
        },
        Article {
            id: 2,
            title: "Rails is Omakase".into(),
            word_count: 120,
            internal_notes: "".into(),
            cache_key: "k2".into(),
            author: Some(dan),
            comments: vec![Comment {
                id: "5".into(),
                body: "First!".into(),
                author: Some(Box::new(ada)),
            }],
        },
    ]
}

/// Runs npm `jsonapi-validator` over every document; panics with its messages if any fails.
pub fn assert_conforms(documents: &[String]) {
    if let Err(report) = node_validate(documents) {
        panic!("jsonapi-validator rejected documents:\n{report}");
    }
}

/// Runs npm `jsonapi-validator`; `Err` carries its report when any document fails.
pub fn node_validate(documents: &[String]) -> Result<(), String> {
    let node_modules = reel_testkit::node_modules().expect(
        "npm jsonapi-validator is needed: run `cargo xtask setup` \
         (npm --prefix $REEL_TOOLS_DIR/reel-node install jsonapi-validator)",
    );
    assert!(
        node_modules.join("jsonapi-validator").is_dir(),
        "jsonapi-validator is not installed in {}; run `cargo xtask setup`",
        node_modules.display()
    );
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "reel-jsonapi-conformance-{}-{run}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join(format!("docs-{}.json", documents.len()));
    let mut file = std::fs::File::create(&input).unwrap();
    write!(file, "[{}]", documents.join(",")).unwrap();
    drop(file);
    let script = r#"
const { Validator } = require('jsonapi-validator');
const validator = new Validator();
const docs = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'));
let failed = 0;
docs.forEach((doc, i) => {
  try { validator.validate(doc); }
  catch (e) { failed++; console.log(`document ${i}: ${JSON.stringify(e.errors || e.message)}\n${JSON.stringify(doc)}`); }
});
console.log(`checked ${docs.length}`);
process.exit(failed ? 1 : 0);
"#;
    let output = Command::new("node")
        .arg("-e")
        .arg(script)
        .arg(&input)
        .env("NODE_PATH", &node_modules)
        .output()
        .expect("node must be installed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        stdout.contains(&format!("checked {}", documents.len())),
        "node failed: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(())
    } else {
        Err(stdout.into_owned())
    }
}
