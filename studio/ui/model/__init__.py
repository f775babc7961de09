"""The Model page: model choice, method form, parameter map, memory estimate."""
