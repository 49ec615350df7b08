module flared.bench/goplaintext

go 1.19
