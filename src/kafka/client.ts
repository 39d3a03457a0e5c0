/**
 * The kafkajs client factory. src/kafka/ is the only place that imports kafkajs
 * (DESIGN §2), so another client could replace it behind the same small interface.
 */
import kafkajs, { type KafkaConfig as KafkaJsConfig, type LogEntry, type SASLOptions } from 'kafkajs'
import type { KafkaConfig } from '../config/config.js'
import type { Logger } from '../observability/logger.js'

const { Kafka, logLevel: KafkaLogLevel } = kafkajs
export type KafkaClient = InstanceType<typeof Kafka>

// kafkajs warns about its v2 partitioner change on every producer; we choose the
// partitioner explicitly where we produce, so the warning is noise.
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

/**
 * kafkajs log lines go to pino. kafkajs logs transient, retried conditions (e.g. the
 * group coordinator loading) at ERROR; they are warnings for an operator.
 */
function logCreator (logger: Logger) {
  return () => (entry: LogEntry) => {
    const { message, ...extra } = entry.log
    const bindings = { kafka: entry.namespace, ...extra }
    switch (entry.level) {
      case KafkaLogLevel.ERROR:
      case KafkaLogLevel.WARN:
        logger.warn(bindings, message)
        break
      case KafkaLogLevel.INFO:
        logger.debug(bindings, message)
        break
      default:
        logger.trace(bindings, message)
    }
  }
}

export function createKafkaClient (config: KafkaConfig, logger: Logger, clientIdSuffix = ''): KafkaClient {
  const options: KafkaJsConfig = {
    clientId: config.clientId + clientIdSuffix,
    brokers: [...config.brokers],
    connectionTimeout: config.connectionTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    logLevel: KafkaLogLevel.INFO,
    logCreator: logCreator(logger.child({ component: 'kafka' })),
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5000 }
  }
  if (config.ssl) {
    options.ssl = config.sslCa === undefined && config.sslCert === undefined
      ? true
      : {
          rejectUnauthorized: true,
          ...(config.sslCa === undefined ? {} : { ca: [config.sslCa] }),
          ...(config.sslCert === undefined ? {} : { cert: config.sslCert }),
          ...(config.sslKey === undefined ? {} : { key: config.sslKey })
        }
  }
  if (config.sasl !== undefined) {
    options.sasl = { mechanism: config.sasl.mechanism, username: config.sasl.username, password: config.sasl.password } as SASLOptions
  }
  return new Kafka(options)
}
