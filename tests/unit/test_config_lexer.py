"""The keepalived.conf lexer: tokens, braces, comments, quotes, includes, $definitions."""

from __future__ import annotations

from pathlib import Path

from vipkeeper.config.lexer import Diagnostic, lex_file, lex_string, split_quoted_escaped


def words(text: str, **kw: object) -> list[list[str]]:
    lines, diagnostics = lex_string(text, config_id="testhost", **kw)  # type: ignore[arg-type]
    assert diagnostics == []
    return [list(ln.words) for ln in lines]


def test_braces_are_lines_of_their_own_even_when_glued() -> None:
    assert words("track_script{\n  chk\n}\n") == [["track_script"], ["{"], ["chk"], ["}"]]
    assert words("vrrp_instance VI_1 { state MASTER }") == [
        ["vrrp_instance", "VI_1"],
        ["{"],
        ["state", "MASTER"],
        ["}"],
    ]
    assert words("a{b}c") == [["a"], ["{"], ["b"], ["}"], ["c"]]


def test_tokens_know_file_and_line() -> None:
    lines, _ = lex_string("\n\nvrrp_script chk {\n script x\n}\n", path="/etc/k.conf")
    assert [(ln.file, ln.line, ln.words) for ln in lines] == [
        ("/etc/k.conf", 3, ("vrrp_script", "chk")),
        ("/etc/k.conf", 3, ("{",)),
        ("/etc/k.conf", 4, ("script", "x")),
        ("/etc/k.conf", 5, ("}",)),
    ]
    assert all(t.line == 4 and t.file == "/etc/k.conf" for t in lines[2].tokens)


def test_comments_hash_and_bang_anywhere_outside_quotes() -> None:
    assert words("# full line\n! another\npriority 100 # trailing\nauth_pass ab#cd\n") == [
        ["priority", "100"],
        ["auth_pass", "ab"],
    ]
    assert words('script "/bin/echo #1 !x"  # comment') == [["script", "/bin/echo #1 !x"]]
    assert words(r"auth_pass ab\#c\!d") == [["auth_pass", "ab#c!d"]]


def test_quoted_strings_keep_blanks_and_braces() -> None:
    lines, _ = lex_string('script "/usr/bin/check --mode {primary}"\n')
    assert lines[0].words == ("script", "/usr/bin/check --mode {primary}")
    assert lines[0].tokens[1].quoted
    assert not lines[0].tokens[0].quoted
    assert lines[0].raw == 'script "/usr/bin/check --mode {primary}"'


def test_unterminated_quote_is_an_error_at_its_line() -> None:
    _, diagnostics = lex_string('a\nscript "/bin/true\n', path="f.conf")
    assert [(d.severity, d.file, d.line) for d in diagnostics] == [("error", "f.conf", 2)]


def test_crlf_and_form_feed_do_not_shift_lines() -> None:
    lines, _ = lex_string("a 1\r\nb\x0c2\r\nc 3\n")
    assert [(ln.line, ln.words[0]) for ln in lines] == [(1, "a"), (2, "b\x0c2"), (3, "c")]


def test_definitions_are_substituted() -> None:
    text = "$IF=eth0\n$PRIO=100\ninterface $IF\npriority ${PRIO}\nlabel ${IF}:1\n"
    assert words(text) == [["interface", "eth0"], ["priority", "100"], ["label", "eth0:1"]]


def test_unbraced_name_must_end_at_a_blank_comma_paren_or_line_end() -> None:
    # keepalived lib/parser.c find_definition(): '$VIP/24' is not a use of $VIP
    assert words("$VIP=10.0.0.1\na $VIP/24 ${VIP}/24 $VIP,x ($VIP)\n") == [
        ["a", "$VIP/24", "10.0.0.1/24", "10.0.0.1,x", "(10.0.0.1)"],
    ]


def test_unknown_names_and_lone_dollars_are_left_alone() -> None:
    assert words('$A=1\nscript "echo $HOME $1 $"\nx $B\n') == [["script", "echo $HOME $1 $"], ["x", "$B"]]
    assert words("x $A\n") == [["x", "$A"]]  # no definitions at all


def test_definitions_may_use_definitions_and_be_redefined() -> None:
    assert words("$A=eth\n$B=${A}0\nx $B\n$B=other\nx $B\n") == [["x", "eth0"], ["x", "other"]]


def test_definition_value_with_blanks_gives_several_tokens() -> None:
    assert words("$OPTS=dev eth0 label eth0:1\n10.0.0.1 $OPTS\n") == [
        ["10.0.0.1", "dev", "eth0", "label", "eth0:1"],
    ]


def test_multiline_definition_expands_to_several_lines() -> None:
    text = "$PEERS=10.0.0.1 \\\n   10.0.0.2 \\\n   10.0.0.3\nunicast_peer {\n $PEERS\n}\n"
    lines, diagnostics = lex_string(text)
    assert diagnostics == []
    assert [(ln.line, ln.words) for ln in lines] == [
        (4, ("unicast_peer",)),
        (4, ("{",)),
        (5, ("10.0.0.1",)),
        (5, ("10.0.0.2",)),
        (5, ("10.0.0.3",)),
        (6, ("}",)),
    ]


def test_self_referencing_definition_is_an_error_not_a_hang() -> None:
    _, diagnostics = lex_string("$A=x $A\ny $A\n", path="f")
    assert [(d.severity, d.line) for d in diagnostics] == [("error", 2)]


def test_config_id_lines() -> None:
    text = "@testhost a 1\n@other b 2\n@^other c 3\n@^testhost d 4\n@testhost\n"
    assert words(text) == [["a", "1"], ["c", "3"]]


def test_include_is_relative_to_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "main.conf").write_text("a 1\ninclude sub/one.conf\nz 26\n")
    (tmp_path / "sub" / "one.conf").write_text("b 2\ninclude two.conf\n")
    (tmp_path / "sub" / "two.conf").write_text("c 3\n")
    lines, diagnostics = lex_file(str(tmp_path / "main.conf"))
    assert diagnostics == []
    assert [(Path(ln.file).name, ln.line, ln.words[0]) for ln in lines] == [
        ("main.conf", 1, "a"),
        ("one.conf", 1, "b"),
        ("two.conf", 1, "c"),
        ("main.conf", 3, "z"),
    ]


def test_include_glob_reads_matches_in_sorted_order(tmp_path: Path) -> None:
    d = tmp_path / "conf.d"
    d.mkdir()
    for name in ("20-b.conf", "10-a.conf", "30-c.txt"):
        (d / name).write_text(f"file {name}\n")
    (tmp_path / "main.conf").write_text("include conf.d/*.conf\n")
    lines, diagnostics = lex_file(str(tmp_path / "main.conf"))
    assert diagnostics == []
    assert [ln.words[1] for ln in lines] == ["10-a.conf", "20-b.conf"]


def test_include_glob_without_match_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "main.conf").write_text("\ninclude conf.d/*.conf\n")
    _, diagnostics = lex_file(str(tmp_path / "main.conf"))
    assert [(d.severity, d.line) for d in diagnostics] == [("warning", 2)]


def test_include_of_missing_file_is_an_error_at_the_include_line(tmp_path: Path) -> None:
    (tmp_path / "main.conf").write_text("a 1\n\ninclude nope.conf\n")
    _, diagnostics = lex_file(str(tmp_path / "main.conf"))
    assert diagnostics == [
        Diagnostic("error", str(tmp_path / "main.conf"), 3, "included file 'nope.conf' not found"),
    ]


def test_include_recursion_is_detected(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("x 1\ninclude b.conf\n")
    (tmp_path / "b.conf").write_text("y 2\ninclude a.conf\n")
    lines, diagnostics = lex_file(str(tmp_path / "a.conf"))
    assert [ln.words[0] for ln in lines] == ["x", "y"]
    assert [(Path(d.file).name, d.line, d.severity) for d in diagnostics] == [("b.conf", 2, "error")]
    assert "recursion" in diagnostics[0].message


def test_include_with_definition(tmp_path: Path) -> None:
    (tmp_path / "extra.conf").write_text("e 5\n")
    (tmp_path / "main.conf").write_text("$NAME=extra\ninclude ${NAME}.conf\n")
    lines, diagnostics = lex_file(str(tmp_path / "main.conf"))
    assert diagnostics == []
    assert [ln.words for ln in lines] == [("e", "5")]


def test_definitions_cross_include_boundaries(tmp_path: Path) -> None:
    (tmp_path / "defs.conf").write_text("$IF=eth1\n")
    (tmp_path / "main.conf").write_text("include defs.conf\ninterface $IF\n")
    lines, _ = lex_file(str(tmp_path / "main.conf"))
    assert [ln.words for ln in lines] == [("interface", "eth1")]


def test_unreadable_main_file_is_an_error_at_line_0(tmp_path: Path) -> None:
    lines, diagnostics = lex_file(str(tmp_path / "missing.conf"))
    assert lines == []
    assert [(d.severity, d.line) for d in diagnostics] == [("error", 0)]
    assert str(diagnostics[0]).startswith(f"{tmp_path / 'missing.conf'}: error: ")


def test_split_quoted_escaped() -> None:
    assert split_quoted_escaped('script "/bin/check a" b') == ["script", "/bin/check a", "b"]
    assert split_quoted_escaped("notify '/x y' user") == ["notify", "/x y", "user"]
    assert split_quoted_escaped(r'a b\ c "d\"e" \x41\101\t') == ["a", "b c", 'd"e', "AA\t"]


def test_diagnostic_str_is_one_line() -> None:
    assert str(Diagnostic("warning", "f.conf", 3, "bad 'a\nb'")) == "f.conf:3: warning: bad 'a\\nb'"


def test_executable_include_is_refused(tmp_path: Path) -> None:
    script = tmp_path / "x.sh"
    script.write_text("evil 1\n")
    script.chmod(0o755)
    (tmp_path / "main.conf").write_text("include x.sh\ninclude *.sh\n")
    lines, diagnostics = lex_file(str(tmp_path / "main.conf"))
    assert lines == []
    assert [(d.severity, d.line) for d in diagnostics] == [("error", 1), ("warning", 2)]
    assert "not a regular non-executable file" in diagnostics[0].message
