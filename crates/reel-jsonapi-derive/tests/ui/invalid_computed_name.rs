use reel_jsonapi::{Context, Resource};

#[derive(Resource)]
#[jsonapi(type = "people", computed(name = "full.name", with = full_name))]
struct Person {
    #[jsonapi(id)]
    id: u64,
}

fn full_name<A>(_: &Person, _: &Context<A>) -> &'static str {
    ""
}

fn main() {}
