use reel_jsonapi::Resource;

#[derive(Resource)]
#[jsonapi(type = "people")]
struct Person {
    name: String,
}

fn main() {}
