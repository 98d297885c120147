module greenrun.bench

go 1.19
