module github.com/shoalkit/shoal

go 1.25.0
