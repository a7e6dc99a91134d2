//! Proptest round trip over the derive: what reel writes — compound documents with random
//! includes, sparse fieldsets and cursor links — is valid, takes the one-pass reader, and reads
//! back into the same values (typed through `included` when no fieldset hides fields, untyped
//! otherwise).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use reel_jsonapi::de::from_response;
use reel_jsonapi::query::percent_decode;
use reel_jsonapi::validate::{DocumentKind, ValidateOptions, validate_slice, validate_slice_with};
use reel_jsonapi::{
    Context, Document, Fieldsets, IncludeTree, Page, Resource, ResourceType, collection,
};
use serde_json::Value;

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "people", rename_all = "camelCase")]
struct Person {
    #[jsonapi(id)]
    id: u64,
    display_name: String,
}

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "notes")]
struct Note {
    #[jsonapi(id)]
    id: String,
    body: String,
    #[jsonapi(relationship)]
    author: Option<Box<Person>>,
}

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "stories", rename_all = "camelCase")]
struct Story {
    #[jsonapi(id)]
    id: u64,
    title: String,
    view_count: u32,
    #[jsonapi(relationship)]
    author: Option<Person>,
    #[jsonapi(relationship)]
    notes: Vec<Note>,
    #[jsonapi(relationship, type = "tags")]
    tags: Vec<u64>,
}

fn person(id: u64) -> Person {
    Person {
        id,
        display_name: format!("P{id} ü+/"),
    }
}

fn story_strategy() -> impl Strategy<Value = Vec<Story>> {
    let note = ("[a-z0-9]{1,3}", ".{0,8}", proptest::option::of(0u64..5));
    let story = (
        any::<u64>(),
        ".{0,10}",
        any::<u32>(),
        proptest::option::of(0u64..5),
        proptest::collection::vec(note, 0..3),
        proptest::collection::vec(any::<u64>(), 0..3),
    );
    proptest::collection::vec(story, 0..6).prop_map(|stories| {
        // One value per identity, as a valid document needs.
        let (mut ids, mut note_ids) = (BTreeSet::new(), BTreeMap::new());
        stories
            .into_iter()
            .filter(|s| ids.insert(s.0))
            .map(|(id, title, view_count, author, notes, tags)| Story {
                id,
                title,
                view_count,
                author: author.map(person),
                notes: notes
                    .into_iter()
                    .map(|(id, body, author)| {
                        // A note id seen before is the same note.
                        note_ids
                            .entry(id.clone())
                            .or_insert_with(|| Note {
                                id,
                                body,
                                author: author.map(|a| Box::new(person(a))),
                            })
                            .clone()
                    })
                    .fold(Vec::new(), |mut out: Vec<Note>, note| {
                        if !out.iter().any(|n| n.id == note.id) {
                            out.push(note);
                        }
                        out
                    }),
                tags: tags
                    .into_iter()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            })
            .collect()
    })
}

/// What `from_response` fills: a related resource is there exactly when it was included.
fn expected(stories: &[Story], include: &IncludeTree) -> Vec<Story> {
    let notes_in = include.child("notes").is_some();
    let mut people = BTreeSet::new();
    for story in stories {
        if include.child("author").is_some() {
            people.extend(story.author.as_ref().map(|a| a.id));
        }
        if let Some(sub) = include.child("notes")
            && sub.child("author").is_some()
        {
            people.extend(
                story
                    .notes
                    .iter()
                    .filter_map(|n| n.author.as_ref().map(|a| a.id)),
            );
        }
    }
    stories
        .iter()
        .map(|s| Story {
            author: s.author.clone().filter(|a| people.contains(&a.id)),
            notes: if notes_in {
                s.notes
                    .iter()
                    .map(|n| Note {
                        author: n.author.clone().filter(|a| people.contains(&a.id)),
                        ..n.clone()
                    })
                    .collect()
            } else {
                Vec::new()
            },
            ..s.clone()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn what_reel_writes_it_reads_back(
        stories in story_strategy(),
        include in proptest::sample::select(vec!["", "author", "notes", "notes.author", "author,notes.author"]),
        story_fields in proptest::option::of(proptest::sample::subsequence(vec!["title", "viewCount", "author", "notes", "tags"], 0..=5)),
        people_fields in proptest::option::of(proptest::sample::subsequence(vec!["displayName"], 0..=1)),
        cursor in "[A-Za-z0-9+/=]{1,12}",
    ) {
        let include = IncludeTree::parse(include, Story::meta()).unwrap();
        let mut fields = Fieldsets::all();
        if let Some(f) = &story_fields {
            fields = fields.with("stories", f);
        }
        if let Some(f) = &people_fields {
            fields = fields.with("people", f);
        }
        let page = Page::Cursor { size: 5, next: Some(cursor.clone()), prev: None };
        let json = collection(&stories, &Context::empty())
            .include(&include)
            .fields(&fields)
            .paginate(&page, "https://example.com/stories")
            .to_vec()
            .unwrap();

        // Valid; strictly so (full linkage) when no fieldset can have dropped linkage.
        let sparse = story_fields.is_some() || people_fields.is_some();
        let errors = validate_slice_with(&json, DocumentKind::Response, ValidateOptions::default().sparse_fieldsets(sparse));
        prop_assert!(errors.is_empty(), "{:?}", errors);
        if !sparse {
            prop_assert!(validate_slice(&json, DocumentKind::Response).is_empty());
        }

        // The one pass reads it, and agrees with the thorough path.
        let one = Document::parse_one_pass(&json);
        prop_assert!(one.is_some(), "one pass gave up on {}", String::from_utf8_lossy(&json));
        prop_assert_eq!(one, Document::parse_thorough(&json, DocumentKind::Response).ok());

        // The cursor survives the link.
        let doc: Value = serde_json::from_slice(&json).unwrap();
        let next = doc["links"]["next"].as_str().unwrap();
        let query = next.split_once('?').unwrap().1;
        let after = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(name, _)| percent_decode(name) == "page[after]")
            .map(|(_, value)| percent_decode(value));
        prop_assert_eq!(after.as_deref(), Some(cursor.as_str()));

        if sparse {
            // Untyped: exactly the selected fields, with the written values.
            let document = Document::parse(&json).unwrap();
            for (story, object) in stories.iter().zip(document.primary_resources()) {
                let attributes = object.attributes.clone().unwrap_or_default();
                let relationships = object.relationships.clone().unwrap_or_default();
                if let Some(selected) = &story_fields {
                    for name in attributes.keys().chain(relationships.keys()) {
                        prop_assert!(selected.contains(&name.as_str()), "{} not selected", name);
                    }
                }
                if let Some(title) = attributes.get("title") {
                    prop_assert_eq!(title.as_str(), Some(story.title.as_str()));
                }
                if let Some(count) = attributes.get("viewCount") {
                    prop_assert_eq!(count.as_u64(), Some(u64::from(story.view_count)));
                }
            }
        } else {
            prop_assert_eq!(from_response::<Story>(&json).unwrap(), expected(&stories, &include));
        }
    }
}
