/* recoupctl recover listen PORT [--secret=S] [--answer=JSON] */
#ifndef RECOUP_CMD_CTL_LISTEN_H
#define RECOUP_CMD_CTL_LISTEN_H

/* argv[0] is the port; returns the exit status (2: usage). */
int ctl_listen(int argc, char **argv);

#endif
