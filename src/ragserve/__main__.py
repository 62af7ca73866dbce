from ragserve.cli import app

app()
