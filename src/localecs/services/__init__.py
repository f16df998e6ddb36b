"""Use cases behind the API: check the domain rules, then change state in one transaction."""
