//! The resources: owners and their assets, as JSON:API resources and search documents.

use reel_jsonapi::{ErrorDocument, ErrorObject, Resource};
use serde::{Deserialize, Serialize};

/// The kinds of asset the API accepts.
pub const KINDS: [&str; 4] = ["video", "image", "audio", "document"];

/// A person who uploads assets.
#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "owners", rename_all = "camelCase")]
pub struct Owner {
    /// Database id.
    #[jsonapi(id)]
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Contact address: private, never in an `owners` document; the owner sees it through
    /// their assets' `uploader` relationship.
    #[jsonapi(skip)]
    pub email: String,
}

/// How to reach the person who uploaded an asset: shown only to that person (the
/// `uploader` relationship of [`Asset`] is hidden from everyone else).
#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "contacts", rename_all = "camelCase")]
pub struct Contact {
    /// The owner's database id.
    #[jsonapi(id)]
    pub id: i64,
    /// The owner's e-mail address.
    pub email: String,
}

/// What an asset document is rendered with: the download-link signer and who is asking.
#[derive(Debug, Clone)]
pub struct AssetAssigns {
    /// Signs each asset's `links.download`.
    pub signer: std::sync::Arc<crate::downloads::DownloadSigner>,
    /// The owner id of the authenticated caller (`Authorization: Bearer`), `None` when
    /// anonymous.
    pub viewer: Option<i64>,
}

/// Whether the caller owns `asset` (and may see its `uploader`).
pub fn viewer_owns(asset: &Asset, context: &reel_jsonapi::Context<AssetAssigns>) -> bool {
    context.assigns().viewer == Some(asset.owner.id)
}

/// An uploaded file, with its owner (includable with `include=owner`) and a signed
/// `links.download`.
#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "assets", rename_all = "camelCase")]
#[jsonapi(context = crate::model::AssetAssigns)]
#[jsonapi(link(name = "download", with = crate::downloads::download_link))]
pub struct Asset {
    /// Database id.
    #[jsonapi(id)]
    pub id: i64,
    /// Title shown to people.
    pub title: String,
    /// One of [`KINDS`].
    pub kind: String,
    /// The file name under the CDN path.
    pub file_name: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// Who uploaded it.
    #[jsonapi(relationship)]
    pub owner: Owner,
    /// How to reach who uploaded it; only the owner sees this relationship (in linkage,
    /// `include=uploader` and sorting alike).
    #[jsonapi(relationship, visible_if = crate::model::viewer_owns)]
    pub uploader: Contact,
}

/// An asset as a create or update request carries it: every member optional, validated by
/// [`AssetInput::validate`].
#[derive(Resource, Debug, Clone, Default, PartialEq)]
#[jsonapi(type = "assets", rename_all = "camelCase")]
pub struct AssetInput {
    /// The id (from the document on update; none on create).
    #[jsonapi(id)]
    pub id: i64,
    /// Title.
    pub title: Option<String>,
    /// Kind.
    pub kind: Option<String>,
    /// File name.
    pub file_name: Option<String>,
    /// Size in bytes.
    pub size_bytes: Option<i64>,
    /// Owner id.
    #[jsonapi(relationship, type = "owners")]
    pub owner: Option<i64>,
}

/// A validated set of asset values; `None` leaves a column unchanged on update.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssetChanges {
    /// New title.
    pub title: Option<String>,
    /// New kind.
    pub kind: Option<String>,
    /// New file name.
    pub file_name: Option<String>,
    /// New size.
    pub size_bytes: Option<i64>,
    /// New owner.
    pub owner_id: Option<i64>,
}

fn invalid(pointer: &str, title: &str, detail: String) -> ErrorObject {
    ErrorObject::new(422, title)
        .with_detail(detail)
        .with_pointer(pointer)
}

impl AssetInput {
    /// Checks the values sent. `present` tells which members the client sent (update) or
    /// `None` for a create, where title, kind, fileName, sizeBytes and owner are required.
    pub fn validate(
        self,
        present: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<AssetChanges, ErrorDocument> {
        let creating = present.is_none();
        let sent = |name: &str| present.is_none_or(|present| present(name));
        let mut errors = Vec::new();
        let mut require = |name: &str, value: bool, pointer: &str| {
            if sent(name) && !value {
                errors.push(invalid(
                    pointer,
                    "Missing value",
                    format!(
                        "`{name}` is required{}",
                        if creating {
                            " to create an asset"
                        } else {
                            " and cannot be null"
                        }
                    ),
                ));
            }
        };
        require("title", self.title.is_some(), "/data/attributes/title");
        require("kind", self.kind.is_some(), "/data/attributes/kind");
        require(
            "fileName",
            self.file_name.is_some(),
            "/data/attributes/fileName",
        );
        require(
            "sizeBytes",
            self.size_bytes.is_some(),
            "/data/attributes/sizeBytes",
        );
        require(
            "owner",
            self.owner.is_some(),
            "/data/relationships/owner/data",
        );
        if let Some(title) = &self.title {
            let length = title.trim().chars().count();
            if length == 0 || length > 200 {
                errors.push(invalid(
                    "/data/attributes/title",
                    "Invalid title",
                    format!("a title has 1 to 200 characters, this one has {length}"),
                ));
            } else if title.chars().any(char::is_control) {
                // PostgreSQL cannot store NUL in text, and no title needs a control character.
                errors.push(invalid(
                    "/data/attributes/title",
                    "Invalid title",
                    "a title cannot contain control characters (such as NUL, tab or newline)"
                        .to_owned(),
                ));
            }
        }
        if let Some(kind) = &self.kind
            && !KINDS.contains(&kind.as_str())
        {
            errors.push(invalid(
                "/data/attributes/kind",
                "Invalid kind",
                format!("`{kind}` is not one of {}", KINDS.join(", ")),
            ));
        }
        if let Some(name) = &self.file_name
            && (name.is_empty()
                || name.len() > 255
                || name.chars().all(|c| c == '.')
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        {
            errors.push(invalid(
                "/data/attributes/fileName",
                "Invalid file name",
                "use 1 to 255 of the characters A-Z a-z 0-9 . - _, not only dots".to_owned(),
            ));
        }
        if let Some(size) = self.size_bytes
            && size < 0
        {
            errors.push(invalid(
                "/data/attributes/sizeBytes",
                "Invalid size",
                format!("a size cannot be negative ({size})"),
            ));
        }
        if errors.is_empty() {
            Ok(AssetChanges {
                title: self.title.map(|t| t.trim().to_owned()),
                kind: self.kind,
                file_name: self.file_name,
                size_bytes: self.size_bytes,
                owner_id: self.owner,
            })
        } else {
            Err(ErrorDocument::new(errors))
        }
    }
}

/// An asset as the search index holds it.
#[derive(reel_search::Document, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[search(index = "edge-assets", shards = 1, replicas = 0)]
pub struct AssetDoc {
    /// Database id.
    #[search(id, keyword)]
    pub id: i64,
    /// Title, analysed for full-text search.
    pub title: String,
    /// Kind.
    #[search(keyword)]
    pub kind: String,
    /// The owner's name, analysed.
    pub owner_name: String,
}

impl From<&Asset> for AssetDoc {
    fn from(asset: &Asset) -> Self {
        Self {
            id: asset.id,
            title: asset.title.clone(),
            kind: asset.kind.clone(),
            owner_name: asset.owner.name.clone(),
        }
    }
}
