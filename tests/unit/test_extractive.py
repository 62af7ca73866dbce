from ragserve.protocol import Citation
from ragserve.rag import extractive


def _source(n: int, text: str) -> Citation:
    return Citation(
        n=n, source=f"doc{n}.md", text=text, document_id=f"d{n}", chunk_index=0, score=1.0
    )


def test_the_sentence_holding_the_question_terms_is_quoted_with_its_citation() -> None:
    sources = [
        _source(1, "Laptops are replaced every three years. Monitors are replaced on request."),
        _source(
            2,
            "The cafeteria opens at eight.\nThe default maxsize of lru_cache is 128 entries, "
            "and typed is false.",
        ),
    ]
    chosen = extractive.choose(
        "What is the default maxsize of lru_cache?", extractive.candidates(sources)
    )
    pieces = extractive.render(chosen)
    assert pieces[0] == "The default maxsize of lru_cache is 128 entries, and typed is false. [2]"
    assert all(p.endswith(("[1]", "[2]")) for p in pieces)


def test_highlights_cover_question_words_but_never_citation_markers() -> None:
    answer = "Every employee gets 25 paid vacation days. [1]\nVacation days roll over. [1]"
    spans = extractive.highlights(answer, "How many vacation days, 1?")
    marked = [answer[h.start : h.end] for h in spans]
    assert marked == ["vacation", "days", "Vacation", "days"]


def test_no_sentence_worth_quoting_gives_no_answer_pieces() -> None:
    assert extractive.render(extractive.choose("anything", extractive.candidates([]))) == []
    assert extractive.candidates([_source(1, "Note.\nSee also.")]) == []


def test_a_signature_line_is_quoted_as_the_lead_of_its_sentence_but_a_remark_is_not() -> None:
    text = (
        "bisect.insort(a, x)\nInsert x in a in sorted order, keeping the list sorted.\n"
        "The old behaviour is gone.\n(Contributed by Pablo Galindo in bpo-31368.)\n"
        "The mode argument no longer affects the permission bits of new directories."
    )
    pairs = extractive.split_sentences(text)
    insort = "Insert x in a in sorted order, keeping the list sorted."
    assert ("bisect.insort(a, x)", insort) in pairs
    (mode,) = [lead for lead, sentence in pairs if sentence.startswith("The mode argument")]
    assert mode == ""


def test_a_heading_in_brackets_still_introduces_its_sentence() -> None:
    pairs = extractive.split_sentences("(a) Definitions\nA widget is any part that moves.")
    assert pairs == [("(a) Definitions", "A widget is any part that moves.")]
