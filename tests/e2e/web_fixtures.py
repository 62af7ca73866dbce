"""Helpers for the browser journeys: a guarded Chromium page, screenshots, test documents and
a scripted LLM server that records whether each streamed answer was read to its end."""

from __future__ import annotations

import socket
from pathlib import Path

from fpdf import FPDF
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Request

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

#: What a hostile document or model output might carry; it must only ever show as text.
MARKUP = "<img src=x onerror=alert(1)> <script>alert(2)</script>"


class GuardedPage:
    """A page that records every request leaving the server's origin, every dialog (an
    injected `alert` would open one) and every script error."""

    def __init__(self, browser: Browser, origin: str, *, width: int, dark: bool = False) -> None:
        self.origin = origin
        self.context = browser.new_context(
            viewport={"width": width, "height": 900 if width > 600 else 800},
            color_scheme="dark" if dark else "light",
            locale="en-US",
        )
        self.page: Page = self.context.new_page()
        self.foreign: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", self._request)
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", self._console)

    def _request(self, request: Request) -> None:
        url = request.url
        if not (url.startswith(self.origin + "/") or url.startswith(("blob:", "data:"))):
            self.foreign.append(url)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message: ConsoleMessage) -> None:
        # A CSP refusal is reported on the console; it means the page relies on something
        # the policy forbids.
        if "Content Security Policy" in message.text:
            self.errors.append(message.text)

    def check(self) -> None:
        """What every journey asserts at its end."""
        assert self.foreign == [], f"requests left the origin: {self.foreign}"
        assert self.dialogs == [], f"a dialog opened (injected script ran?): {self.dialogs}"
        assert self.errors == [], f"script errors: {self.errors}"

    def shoot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


def policy_pdf(path: Path) -> Path:
    """A two-page PDF whose second page holds a passage broken over several lines."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    line = {"new_x": "LMARGIN", "new_y": "NEXT"}
    pdf.add_page()
    pdf.multi_cell(0, 8, "Northwind Traders employee handbook\n\nIntroduction", **line)
    pdf.multi_cell(
        0,
        8,
        "This handbook explains how Northwind Traders works with its employees. "
        "It covers offices, equipment, travel and the people to ask.",
        **line,
    )
    pdf.add_page()
    pdf.multi_cell(0, 8, "Vacation policy", **line)
    pdf.multi_cell(
        0,
        8,
        "Every Northwind employee receives twenty-five days of paid vacation per year. "
        "Unused vacation days may be carried over into the first quarter of the next year. "
        "Requests for vacation are approved by the team lead at least two weeks ahead.",
        **line,
    )
    pdf.output(str(path))
    return path


def journey_documents(folder: Path) -> list[Path]:
    """Three uploads: a good PDF, a text file carrying markup, and a corrupt PDF."""
    folder.mkdir(parents=True, exist_ok=True)
    notes = folder / "notes.txt"
    notes.write_text(
        "Security training notes. Attackers hide markup such as "
        f"{MARKUP} inside documents; ragserve must show it as plain text. "
        "Phishing reports go to the security desk on the third floor.\n"
    )
    broken = folder / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n1 0 obj\n<< this is not a real pdf >>\n" + b"\x00" * 64)
    return [policy_pdf(folder / "policy.pdf"), notes, broken]


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
