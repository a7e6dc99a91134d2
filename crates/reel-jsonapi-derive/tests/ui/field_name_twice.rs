use reel_jsonapi::Resource;

#[derive(Resource)]
#[jsonapi(type = "people")]
struct Person {
    #[jsonapi(id)]
    id: u64,
    name: String,
    #[jsonapi(rename = "name")]
    nickname: String,
}

fn main() {}
