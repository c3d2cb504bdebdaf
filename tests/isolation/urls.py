from django.urls import URLPattern, URLResolver, get_resolver


def named_patterns(urlconf: str) -> list[str]:
    """Every route of a URLconf as 'namespace:name'; unnamed routes come back as their regex so
    that they fail the coverage check instead of slipping through."""
    found: list[str] = []

    def walk(patterns: list[URLPattern | URLResolver], namespace: str, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, inner, prefix + str(pattern.pattern))
            elif pattern.name:
                found.append(f"{namespace}{pattern.name}")
            else:
                found.append(f"<unnamed {prefix}{pattern.pattern}>")

    walk(get_resolver(urlconf).url_patterns, "", "")
    return found
