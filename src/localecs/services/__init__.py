"""Use cases behind the API: validate against the domain rules, then change state in one transaction."""
