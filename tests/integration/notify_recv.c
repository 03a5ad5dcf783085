/* The test's end of systemd's notify socket: bind a datagram socket at
 * PATH and print every state line received, one per line, until killed.
 * Usage: notify_recv PATH */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    char buf[4096];
    int fd;

    if (argc != 2 || strlen(argv[1]) >= sizeof(addr.sun_path)) {
        fprintf(stderr, "usage: notify_recv PATH\n");
        return 2;
    }
    strcpy(addr.sun_path, argv[1]);
    fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    unlink(argv[1]);
    if (fd < 0 || bind(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0) {
        perror("notify_recv");
        return 1;
    }
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

        if (n < 0)
            return 1;
        buf[n] = '\0';
        printf("%s\n", buf);
        fflush(stdout);
    }
}
