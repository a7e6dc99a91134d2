use reel_search::Document;

mod my_dates {
    pub fn serialize<S: serde::Serializer>(
        at: &chrono::DateTime<chrono::Utc>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.format("%d/%m/%Y").to_string())
    }
}

// The field's type says `date`, but serde writes what `my_dates` writes.
#[derive(Document, serde::Serialize)]
struct Event {
    #[serde(with = "my_dates")]
    at: chrono::DateTime<chrono::Utc>,
}

fn main() {}
